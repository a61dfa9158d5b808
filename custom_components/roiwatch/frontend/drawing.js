// Drawing over the live picture: the regions (SVG polygons in the picture's 0..1 space), their
// name tags, the region being edited (the draft) with its corner and edge handles, and the
// colour of each region from its binary_sensor's state.

/** @import {HassState, Point, Region} from './api.js' */
/** @import {FormValues} from './form.js' */
/**
 * The region being drawn (not yet `closed`) or edited: its form's values, its points, whether
 * the user changed it (`dirty`); `id` null for a new one.
 * @typedef {FormValues & {id: string | null, points: Point[], closed: boolean, dirty?: boolean}} Draft
 */
/** @typedef {'on' | 'off' | 'na'} StateKey */

const SVGNS = 'http://www.w3.org/2000/svg';
/** @type {Record<StateKey, string>} */
export const STATE_TEXT = { on: 'Detected', off: 'Clear', na: 'Unavailable' };

/** @param {string} s */
const cssEscape = (s) => (window.CSS?.escape ? window.CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&'));
/** @type {(s: HassState | undefined) => StateKey} */
const stateKey = (s) => (!s ? 'na' : s.state === 'on' ? 'on' : s.state === 'off' ? 'off' : 'na');
/** @param {Point[]} points */
const pointsAttr = (points) => points.map((p) => p.join(',')).join(' ');

/**
 * A region's name tag, above its topmost corner.
 * @param {string} name
 * @param {Point[]} points
 * @param {string} [id]
 */
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

/**
 * Draw the saved regions (but the one being edited) and the draft; returns the draft's shape.
 * @param {SVGSVGElement} svg
 * @param {HTMLElement} tags
 * @param {Region[]} regions
 * @param {Draft | null} draft
 * @returns {SVGElement | null}
 */
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

/**
 * The draft's handles: a button per corner, and one per edge to add a corner there.
 * @param {HTMLElement} layer
 * @param {Draft | null} draft
 * @param {number} corner  the selected corner (-1: none)
 * @param {number} maxPoints
 */
export function drawHandles(layer, draft, corner, maxPoints) {
  layer.replaceChildren();
  if (!draft) return;
  const pts = draft.points;
  pts.forEach((_, i) => {
    const first = i === 0 && !draft.closed;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = first ? 'h corner first' : 'h corner';
    b.dataset.i = String(i);
    b.setAttribute('aria-label', first ? 'Corner 1 (click to close the polygon)' : `Corner ${i + 1}`);
    b.setAttribute('aria-pressed', String(i === corner));
    layer.append(b);
  });
  if (draft.closed && pts.length < maxPoints) {
    pts.forEach((_, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'h mid';
      b.dataset.i = String(i);
      b.setAttribute('aria-label', `Add a corner between corners ${i + 1} and ${((i + 1) % pts.length) + 1}`);
      layer.append(b);
    });
  }
}

/**
 * Move the draft's shape and handles to its points; no element is rebuilt (while dragging).
 * @param {SVGElement | null} shape
 * @param {HTMLElement} layer
 * @param {Point[]} points
 */
export function movePoints(shape, layer, points) {
  if (!shape) return;
  shape.setAttribute('points', pointsAttr(points));
  for (const b of /** @type {HTMLCollectionOf<HTMLElement>} */ (layer.children)) {
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

/**
 * Colour each region (polygon, tag, list row) by its sensor's state; `painted` remembers what was.
 * @param {ParentNode} root
 * @param {Region[]} regions
 * @param {Record<string, HassState | undefined>} states
 * @param {Map<string, HassState | undefined>} painted
 */
export function paintStates(root, regions, states, painted) {
  for (const r of regions) {
    const s = r.entity_id ? states[r.entity_id] : undefined;
    if (painted.get(r.id) === s && s !== undefined) continue;
    painted.set(r.id, s);
    const key = stateKey(s);
    const drawn = /** @type {NodeListOf<HTMLElement | SVGElement>} */ (root.querySelectorAll(`[data-id="${cssEscape(r.id)}"]`));
    for (const el of drawn) el.dataset.state = key;
    const small = root.querySelector(`li [data-id="${cssEscape(r.id)}"] small`);
    if (small) small.textContent = STATE_TEXT[key];
  }
}
