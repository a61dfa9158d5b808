// Drawing over the live picture: the regions (SVG polygons in the picture's 0..1 space), their
// name tags, the region being edited (the draft) with its corner and edge handles, and the
// colour of each region from its binary_sensor's state.

const SVGNS = 'http://www.w3.org/2000/svg';
export const STATE_TEXT = { on: 'Detected', off: 'Clear', na: 'Unavailable' };

const cssEscape = (s) => (window.CSS?.escape ? window.CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&'));
const stateKey = (s) => (!s ? 'na' : s.state === 'on' ? 'on' : s.state === 'off' ? 'off' : 'na');
const pointsAttr = (points) => points.map((p) => p.join(',')).join(' ');

function tag(name, points, id) {
  const el = document.createElement('div');
  el.className = 'tag';
  el.textContent = name;
  if (id) el.dataset.id = id;
  const top = points.reduce((a, p) => (p[1] < a[1] ? p : a), points[0]);
  el.style.left = `${Math.min(90, Math.max(10, top[0] * 100))}%`;
  el.style.top = `${Math.max(4, top[1] * 100 - 4)}%`;
  return el;
}

/** Draw the saved regions (but the one being edited) and the draft; returns the draft's shape. */
export function drawRegions(svg, tags, regions, draft) {
  svg.replaceChildren();
  tags.replaceChildren();
  for (const r of regions) {
    if (draft && draft.id === r.id) continue;
    const poly = document.createElementNS(SVGNS, 'polygon');
    poly.setAttribute('points', pointsAttr(r.points));
    poly.setAttribute('class', 'region');
    poly.dataset.id = r.id;
    const title = document.createElementNS(SVGNS, 'title');
    title.textContent = r.name;
    poly.append(title);
    svg.append(poly);
    tags.append(tag(r.name, r.points, r.id));
  }
  if (!draft) return null;
  const shape = document.createElementNS(SVGNS, draft.closed ? 'polygon' : 'polyline');
  shape.setAttribute('class', 'draft');
  svg.append(shape);
  if (draft.closed && draft.name) tags.append(tag(draft.name, draft.points));
  return shape;
}

/** The draft's handles: a button per corner, and one per edge to add a corner there. */
export function drawHandles(layer, draft, corner, maxPoints) {
  layer.replaceChildren();
  if (!draft) return;
  const pts = draft.points;
  pts.forEach((p, i) => {
    const first = i === 0 && !draft.closed;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = first ? 'h corner first' : 'h corner';
    b.dataset.i = i;
    b.setAttribute('aria-label', first ? 'Corner 1 (click to close the polygon)' : `Corner ${i + 1}`);
    b.setAttribute('aria-pressed', String(i === corner));
    layer.append(b);
  });
  if (draft.closed && pts.length < maxPoints) {
    pts.forEach((p, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'h mid';
      b.dataset.i = i;
      b.setAttribute('aria-label', `Add a corner between corners ${i + 1} and ${((i + 1) % pts.length) + 1}`);
      layer.append(b);
    });
  }
}

/** Move the draft's shape and handles to its points; no element is rebuilt (while dragging). */
export function movePoints(shape, layer, points) {
  if (!shape) return;
  shape.setAttribute('points', pointsAttr(points));
  for (const b of layer.children) {
    const i = Number(b.dataset.i);
    let [x, y] = points[i];
    if (b.classList.contains('mid')) {
      const q = points[(i + 1) % points.length];
      x = (x + q[0]) / 2;
      y = (y + q[1]) / 2;
    }
    b.style.left = `${x * 100}%`;
    b.style.top = `${y * 100}%`;
  }
}

/** Colour each region (polygon, tag, list row) by its sensor's state; `painted` remembers what was. */
export function paintStates(root, regions, states, painted) {
  for (const r of regions) {
    const s = r.entity_id ? states[r.entity_id] : undefined;
    if (painted.get(r.id) === s && s !== undefined) continue;
    painted.set(r.id, s);
    const key = stateKey(s);
    for (const el of root.querySelectorAll(`[data-id="${cssEscape(r.id)}"]`)) el.dataset.state = key;
    const small = root.querySelector(`li [data-id="${cssEscape(r.id)}"] small`);
    if (small) small.textContent = STATE_TEXT[key];
  }
}
