// RoiWatch region editor: a Home Assistant sidebar panel (panel_custom, admins only).
// A plain web component (no build step, no imports): HA sets `hass`, `narrow`, `route` and `panel`.
// The regions are drawn over the camera's live picture; saving goes through the integration's
// websocket API (roiwatch/cameras, roiwatch/region/save, roiwatch/region/delete).

const SVGNS = 'http://www.w3.org/2000/svg';
const ERR = 'component.roiwatch.config_subentries.roi.error.';
const FIELD = 'component.roiwatch.config_subentries.roi.step.user.data.';
const DEFAULTS = { detect: 'person', sensitivity: 50, off_delay: 10 };
const STATE_TEXT = { on: 'Detected', off: 'Clear', na: 'Unavailable' };

const CSS = `
:host{--rw-primary-color:var(--primary-color,#03a9f4);--rw-primary-text-color:var(--primary-text-color,#212121);--rw-secondary-text-color:var(--secondary-text-color,#727272);--rw-card-background-color:var(--card-background-color,#fff);--rw-divider-color:var(--divider-color,rgba(0,0,0,.12));--rw-error-color:var(--error-color,#db4437);--rw-primary-background-color:var(--primary-background-color,#fafafa);--rw-disabled-text-color:var(--disabled-text-color,#9e9e9e);--rw-state-active-color:var(--state-active-color,#fdd835);--rw-accent-color:var(--accent-color,#ff9800);--rw-success-color:var(--success-color,#43a047);--rw-text-primary-color:var(--text-primary-color,#fff);
 --rw-header-bg:var(--app-header-background-color,var(--rw-primary-color))}
:host{display:block;height:100%;background:var(--rw-primary-background-color);color:var(--rw-primary-text-color);
 font-family:var(--ha-font-family-body,var(--paper-font-body1_-_font-family,Roboto,sans-serif));-webkit-font-smoothing:antialiased}
header{display:flex;align-items:center;gap:8px;height:var(--header-height,56px);padding:0 12px;box-sizing:border-box;
 background:var(--rw-header-bg);color:var(--app-header-text-color,#fff);
 border-bottom:var(--app-header-border-bottom,none)}
header h1{font-size:20px;font-weight:400;margin:0 0 0 4px;flex:1;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#menu{background:none;border:0;color:inherit;font-size:24px;width:48px;height:48px;cursor:pointer;display:none}
:host([narrow]) #menu{display:block}
main{padding:16px;display:grid;grid-template-columns:minmax(0,1fr) 320px;gap:16px;align-items:start;container-type:inline-size}
@media (max-width:870px){main{grid-template-columns:minmax(0,1fr);padding:8px}}
.card{background:var(--rw-card-background-color);border-radius:var(--ha-card-border-radius,12px);
 border:1px solid var(--rw-divider-color);padding:12px;box-sizing:border-box;min-width:0}
.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
label{display:block;font-size:14px;color:var(--rw-secondary-text-color);margin:10px 0 2px}
input,select{font:inherit;width:100%;box-sizing:border-box;padding:8px;border-radius:6px;border:1px solid var(--rw-divider-color);
 background:var(--rw-card-background-color);color:var(--rw-primary-text-color)}
button{font:inherit;font-size:14px;padding:8px 14px;border-radius:18px;border:1px solid var(--rw-primary-color);
 background:none;color:var(--rw-primary-color);cursor:pointer}
button.primary{background:var(--rw-primary-color);color:var(--rw-text-primary-color)}
button.danger{border-color:var(--rw-error-color);color:var(--rw-error-color)}
button:disabled{opacity:.45;cursor:default}
.pic{position:relative;width:100%;aspect-ratio:4/3;background:#000;overflow:hidden;border-radius:8px;
 user-select:none;-webkit-user-select:none;touch-action:manipulation}
.pic img{position:absolute;inset:0;width:100%;height:100%;display:block}
.pic svg,.layer{position:absolute;inset:0;width:100%;height:100%}
.layer{pointer-events:none}
.placeholder{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;color:#bbb;padding:16px;text-align:center}
:host([drawing]) .pic{cursor:crosshair}
polygon,polyline{vector-effect:non-scaling-stroke;stroke-width:2.5;stroke-linejoin:round}
.region{cursor:pointer;fill-opacity:.12}
[data-state=on].region,.sw.on{fill:var(--rw-state-active-color);stroke:var(--rw-state-active-color);fill-opacity:.45}
[data-state=off].region,.sw.off{fill:var(--rw-primary-color);stroke:var(--rw-primary-color)}
[data-state=na].region,.sw.na{fill:none;stroke:var(--rw-disabled-text-color);stroke-dasharray:6 4}
.draft{fill:#fff;fill-opacity:.18;stroke:var(--rw-accent-color);stroke-dasharray:none}
polyline.draft{fill:none}
.tag{position:absolute;transform:translate(-50%,-50%);font-size:12px;padding:1px 6px;border-radius:8px;white-space:nowrap;
 background:rgba(0,0,0,.6);color:#fff}
.tag[data-state=on]{background:var(--rw-state-active-color);color:#000}
.h{position:absolute;width:22px;height:22px;margin:-11px 0 0 -11px;padding:0;border-radius:50%;pointer-events:auto;
 background:var(--rw-accent-color);border:2px solid #fff;touch-action:none;cursor:move;box-shadow:0 0 3px #000}
.h.mid{width:16px;height:16px;margin:-8px 0 0 -8px;opacity:.75;background:#fff;border-color:var(--rw-accent-color);cursor:copy}
.h.first{background:#fff}
.h[aria-pressed=true]{outline:3px solid var(--rw-primary-color);outline-offset:1px}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:13px;color:var(--rw-secondary-text-color);margin:8px 0}
.legend span{display:inline-flex;align-items:center;gap:6px}
.sw{width:18px;height:12px}
.hint{font-size:14px;color:var(--rw-secondary-text-color);margin:6px 0}
.err{color:var(--rw-error-color);font-size:13px;margin-top:2px}
.err:empty{display:none}
ul{list-style:none;margin:0;padding:0}
li button{width:100%;display:flex;justify-content:space-between;gap:8px;border-radius:8px;border:0;color:var(--rw-primary-text-color);padding:10px 8px}
li button[aria-current=true]{background:rgba(var(--rgb-primary-color,3,169,244),.15)}
li small{color:var(--rw-secondary-text-color)}
#status{font-size:14px;min-height:20px;margin:6px 0}
#status[data-state=applied]{color:var(--rw-success-color)}
#status[data-state=error]{color:var(--rw-error-color)}
h2{font-size:16px;font-weight:500;margin:4px 0 8px}
dialog{border:0;border-radius:12px;background:var(--rw-card-background-color);color:var(--rw-primary-text-color);max-width:90vw}
dialog::backdrop{background:rgba(0,0,0,.4)}
[hidden]{display:none!important}
`;

const HTML = `
<header><span id="menuslot"><button id="menu" aria-label="Sidebar">&#9776;</button></span>
 <h1>RoiWatch regions</h1></header>
<main>
 <section class="card">
  <div class="row"><label for="camera" style="margin:0">Camera</label>
   <select id="camera" style="flex:1;width:auto;min-width:160px"></select></div>
  <div class="err" id="load-error" role="alert"></div>
  <div class="pic" id="pic">
   <div class="placeholder" id="placeholder">No live picture from this camera yet</div>
   <img id="live" alt="Live picture" hidden>
   <svg id="svg" viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true"></svg>
   <div class="layer" id="tags"></div><div class="layer" id="handles"></div>
  </div>
  <div class="err" id="err-points" role="alert"></div>
  <div class="legend" aria-label="Legend">
   <span><svg class="sw on" viewBox="0 0 18 12"><rect width="18" height="12" class="sw on"/></svg>Detected (on)</span>
   <span><svg class="sw off" viewBox="0 0 18 12"><rect width="18" height="12" class="sw off" fill-opacity=".3" stroke-width="3"/></svg>Clear (off)</span>
   <span><svg class="sw na" viewBox="0 0 18 12"><rect width="18" height="12" class="sw na" stroke-width="3"/></svg>Unavailable or unknown</span>
  </div>
  <p class="hint" id="hint"></p>
  <div class="row">
   <button id="add" class="primary">Add region</button>
   <button id="close" hidden>Close polygon</button>
   <button id="undo" hidden>Undo last corner</button>
   <button id="rmcorner" hidden>Remove corner</button>
  </div>
 </section>
 <aside class="card">
  <h2>Regions</h2><ul id="list"></ul><p class="hint" id="empty">No regions yet.</p>
  <form id="form" hidden novalidate>
   <h2 id="formtitle"></h2>
   <label for="f-name" id="l-name">Name</label><input id="f-name" name="name" autocomplete="off" aria-describedby="err-name">
   <div class="err" id="err-name" role="alert"></div>
   <label for="f-detect" id="l-detect">Detect</label><select id="f-detect" name="detect" aria-describedby="err-detect"></select>
   <div class="err" id="err-detect" role="alert"></div>
   <label for="f-sensitivity" id="l-sensitivity">Sensitivity</label>
   <input id="f-sensitivity" name="sensitivity" type="number" inputmode="numeric" aria-describedby="err-sensitivity">
   <div class="err" id="err-sensitivity" role="alert"></div>
   <label for="f-off_delay" id="l-off_delay">Off delay (seconds)</label>
   <input id="f-off_delay" name="off_delay" type="number" inputmode="numeric" aria-describedby="err-off_delay">
   <div class="err" id="err-off_delay" role="alert"></div>
   <div class="err" id="err-base" role="alert"></div>
   <div class="row" style="margin-top:14px">
    <button id="save" class="primary" type="submit">Save</button>
    <button id="cancel" type="button">Cancel</button>
    <button id="delete" class="danger" type="button">Delete</button>
   </div>
  </form>
  <div id="status" role="status" aria-live="polite"></div>
 </aside>
</main>
<dialog id="confirm" aria-labelledby="confirm-text">
 <p id="confirm-text"></p>
 <div class="row" style="justify-content:flex-end"><button id="confirm-no">Cancel</button>
  <button id="confirm-yes" class="danger">Delete</button></div>
</dialog>`;

const CSS_ESCAPE = (s) => (window.CSS?.escape ? window.CSS.escape(s) : String(s).replace(/["\\]/g, '\\$&'));
const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
const stateKey = (s) => (!s ? 'na' : s.state === 'on' ? 'on' : s.state === 'off' ? 'off' : 'na');

class RoiWatchPanel extends HTMLElement {
  constructor() {
    super();
    this._cameras = [];
    this._limits = { min_points: 3, max_points: 32, max_regions: 16, name_max: 64, sensitivity: [1, 100], off_delay: [0, 3600], detect: ['person', 'motion'] };
    this._entry = null; // the selected camera's entry_id
    this._draft = null; // {id, name, detect, points, sensitivity, off_delay, closed}
    this._corner = -1; // the selected corner of the draft
    this._drag = null;
    this._status = null; // {state, revision, entry, since}
    this._painted = new Map(); // entity_id -> state object last painted
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first) this._init();
    this._update();
  }

  get hass() {
    return this._hass;
  }

  set narrow(value) {
    this._narrow = value;
    this.toggleAttribute('narrow', !!value);
    if (this._menuButton) this._menuButton.narrow = value;
  }

  get narrow() {
    return this._narrow;
  }

  connectedCallback() {
    if (!this.$) return;
    this._showPicture(true);
    if (this._status?.state === 'applying') this._poll();
  }

  disconnectedCallback() {
    // An MJPEG stream stays open as long as an <img> shows it.
    clearTimeout(this._pollTimer);
    if (this.$) {
      this.$.live.removeAttribute('src');
      this._pictureKey = null;
    }
  }

  // ------------------------------------------------------------------ setup

  _init() {
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${CSS}</style>${HTML}`;
    this.$ = new Proxy({}, { get: (_, id) => root.getElementById(id) });
    const $ = this.$;
    this._useMenuButton();
    $.camera.addEventListener('change', () => this._selectCamera($.camera.value));
    $.add.addEventListener('click', () => this._startDraft());
    $.close.addEventListener('click', () => this._closeDraft());
    $.undo.addEventListener('click', () => {
      this._draft.points.pop();
      this._redraw();
    });
    $.rmcorner.addEventListener('click', () => this._removeCorner(this._corner));
    $.cancel.addEventListener('click', () => this._select(null));
    $.delete.addEventListener('click', () => this._askDelete());
    $.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this._save();
    });
    $.form.addEventListener('input', (ev) => {
      if (!this._draft) return;
      this._draft[ev.target.name] = ev.target.value;
      this._draft.dirty = true;
      this._setError(ev.target.name, '');
    });
    $['confirm-no'].addEventListener('click', () => $.confirm.close());
    $['confirm-yes'].addEventListener('click', () => {
      $.confirm.close();
      this._delete();
    });
    $.live.addEventListener('load', () => this._fitPicture());
    const pic = $.pic;
    pic.addEventListener('pointerdown', (ev) => this._pointerDown(ev));
    pic.addEventListener('pointermove', (ev) => this._pointerMove(ev));
    pic.addEventListener('pointerup', (ev) => this._pointerUp(ev));
    pic.addEventListener('pointercancel', (ev) => this._pointerUp(ev));
    pic.addEventListener('click', (ev) => this._click(ev));
    pic.addEventListener('dblclick', (ev) => {
      const i = this._handleIndex(ev, 'corner');
      if (i >= 0) this._removeCorner(i);
    });
    $.handles.addEventListener('keydown', (ev) => this._key(ev));
    $.handles.addEventListener('focusin', (ev) => this._pickCorner(this._handleIndex(ev, 'corner')));
    this._translate();
    this._load();
  }

  _useMenuButton() {
    // HA's own menu button once the frontend has defined it; until then a plain one that asks
    // HA to toggle the sidebar the same way.
    this.$.menu.addEventListener('click', () =>
      this.dispatchEvent(new Event('hass-toggle-menu', { bubbles: true, composed: true })),
    );
    customElements.whenDefined('ha-menu-button').then(() => {
      const button = document.createElement('ha-menu-button');
      button.hass = this._hass;
      button.narrow = this._narrow;
      this._menuButton = button;
      this.$.menuslot.replaceChildren(button);
    });
  }

  async _translate() {
    // The region form's labels and error texts come from the integration's strings.json.
    try {
      await this._hass.loadBackendTranslation?.('config_subentries', 'roiwatch');
    } catch (err) {
      // English it is.
    }
  }

  _labels() {
    // Field labels in the user's language once the integration's translations are loaded.
    this._localize = this._hass.localize;
    for (const [f, en] of Object.entries({ name: 'Name', detect: 'Detect', sensitivity: 'Sensitivity', off_delay: 'Off delay' })) {
      this.$[`l-${f}`].textContent = this._t(FIELD + f, en) + (f === 'off_delay' ? ' (s)' : '');
    }
  }

  _t(key, english) {
    const text = this._hass?.localize?.(key);
    return text || english;
  }

  async _load() {
    try {
      const res = await this._hass.callWS({ type: 'roiwatch/cameras' });
      this._cameras = res.cameras || [];
      if (JSON.stringify(res.limits) !== JSON.stringify(this._serverLimits)) {
        this._serverLimits = res.limits;
        this._limits = { ...this._limits, ...(res.limits || {}) };
      }
      this.$['load-error'].textContent = '';
    } catch (err) {
      this.$['load-error'].textContent = `Could not list the cameras: ${err.message || err.code || err}`;
      return;
    }
    this._fillCameras();
    const { running_revision: _running, ...shown } = this._camera() || {};
    const drawn = JSON.stringify(shown);
    if (drawn !== this._drawn) {
      // Redraw only what changed: a re-list that brings nothing new leaves the editor alone.
      this._drawn = drawn;
      const region = this._draft?.id && this._regions().find((r) => r.id === this._draft.id);
      if (region && !this._draft.dirty) this._select(region.id);
      else if (this._draft?.id && !region) this._select(null);
      else this._redraw();
    }
    this._update();
  }

  _fillCameras() {
    const $ = this.$;
    const cams = this._cameras;
    if (!cams.some((c) => c.entry_id === this._entry)) this._entry = cams.length === 1 ? cams[0].entry_id : null;
    const options = cams.map((c) => {
      const o = new Option(c.loaded ? c.title : `${c.title} (not loaded)`, c.entry_id);
      return o;
    });
    if (!this._entry) options.unshift(new Option(cams.length ? 'Choose a camera' : 'No RoiWatch cameras', ''));
    $.camera.replaceChildren(...options);
    $.camera.value = this._entry || '';
    if (this._limitsShown === this._limits) return; // (re-filling the form would reset its values)
    this._limitsShown = this._limits;
    const lim = this._limits;
    $['f-detect'].replaceChildren(
      ...lim.detect.map((d) => new Option(d === 'person' ? 'Person' : d === 'motion' ? 'Motion' : d, d)),
    );
    Object.assign($['f-name'], { maxLength: lim.name_max });
    Object.assign($['f-sensitivity'], { min: lim.sensitivity[0], max: lim.sensitivity[1] });
    Object.assign($['f-off_delay'], { min: lim.off_delay[0], max: lim.off_delay[1] });
  }

  _camera() {
    return this._cameras.find((c) => c.entry_id === this._entry) || null;
  }

  _regions() {
    return this._camera()?.regions || [];
  }

  _selectCamera(entryId) {
    this._entry = entryId || null;
    this._drawn = JSON.stringify(this._camera());
    this._draft = null;
    this._status = null;
    this._fillCameras();
    this._select(null);
    this._update();
  }

  // ------------------------------------------------------------------ live updates (hass changes)

  _update() {
    if (!this.$) return;
    const hass = this._hass;
    if (this._menuButton) this._menuButton.hass = hass;
    if (hass.localize !== this._localize) this._labels();
    this._showPicture(false);
    this._paintStates();
    this._checkApplied();
  }

  _showPicture(force) {
    const cam = this._camera();
    const id = cam?.entities?.camera;
    const st = id && this._hass.states[id];
    const token = st?.attributes?.access_token;
    const src = token && st.state !== 'unavailable' ? `/api/camera_proxy_stream/${id}?token=${encodeURIComponent(token)}` : '';
    if (!force && src === this._pictureKey) return;
    if (!this.isConnected) return;
    this._pictureKey = src;
    const img = this.$.live;
    if (src) img.src = src;
    else img.removeAttribute('src');
    img.hidden = !src;
    this.$.placeholder.hidden = !!src;
    this._fitPicture();
  }

  _fitPicture() {
    // The overlay's 0..1 viewBox covers exactly the picture: keep the picture's own aspect ratio.
    const img = this.$.live;
    clearTimeout(this._fitTimer);
    if (img.hidden) return;
    if (img.naturalWidth) this.$.pic.style.aspectRatio = `${img.naturalWidth}/${img.naturalHeight}`;
    else this._fitTimer = setTimeout(() => this._fitPicture(), 500); // an MJPEG stream may not fire load
  }

  _paintStates() {
    const states = this._hass.states;
    const root = this.shadowRoot;
    for (const r of this._regions()) {
      const s = r.entity_id ? states[r.entity_id] : undefined;
      if (this._painted.get(r.id) === s && s !== undefined) continue;
      this._painted.set(r.id, s);
      const key = stateKey(s);
      for (const el of root.querySelectorAll(`[data-id="${CSS_ESCAPE(r.id)}"]`)) el.dataset.state = key;
      const small = root.querySelector(`li [data-id="${CSS_ESCAPE(r.id)}"] small`);
      if (small) small.textContent = STATE_TEXT[key];
    }
  }

  _checkApplied() {
    const st = this._status;
    if (!st || st.state !== 'applying') return;
    const cam = this._cameras.find((c) => c.entry_id === st.entry);
    const ents = cam?.entities || {};
    if (st.revision == null && cam?.revision > st.publishedBefore) {
      st.revision = cam.revision;
      this.$.status.textContent = `Applying revision ${st.revision}…`;
    }
    if (st.revision == null) return;
    const applied = this._hass.states[ents.applied];
    if (applied?.last_changed !== st.appliedSeen) {
      // The applied sensor moved: re-list now for the running revision rather than at the next poll.
      st.appliedSeen = applied?.last_changed;
      if (st.appliedSeen !== st.appliedBefore) this._poll();
    }
    const done = applied?.state === 'on' && cam.running_revision != null && cam.running_revision >= st.revision;
    if (done) {
      this._setStatus('applied', `Applied: the camera runs revision ${st.revision}.`);
      this._relist(5);
    }
  }

  _relist(tries) {
    // The new region's entity appears once the camera's entry has reloaded: ask again until then.
    this._load().then(() => {
      if (tries > 1 && this._regions().some((r) => !r.entity_id)) setTimeout(() => this._relist(tries - 1), 2000);
    });
  }

  _setStatus(state, text, extra) {
    this._status = state ? { ...(this._status || {}), state, ...extra } : null;
    const el = this.$.status;
    el.dataset.state = state || '';
    el.textContent = text || '';
  }

  // ------------------------------------------------------------------ drawing

  _redraw() {
    // Never mid-drag: that would replace the handle being dragged.
    this._redrawLater = !!this._drag;
    if (this._drag) return;
    const $ = this.$;
    const draft = this._draft;
    const cam = this._camera();
    const regions = this._regions();
    const svg = $.svg;
    svg.replaceChildren();
    $.tags.replaceChildren();
    this._painted.clear();
    for (const r of regions) {
      if (draft && draft.id === r.id) continue;
      const poly = document.createElementNS(SVGNS, 'polygon');
      poly.setAttribute('points', r.points.map((p) => p.join(',')).join(' '));
      poly.setAttribute('class', 'region');
      poly.dataset.id = r.id;
      const title = document.createElementNS(SVGNS, 'title');
      title.textContent = r.name;
      poly.append(title);
      svg.append(poly);
      $.tags.append(this._tag(r.name, r.points, r.id));
    }
    if (draft) {
      const shape = document.createElementNS(SVGNS, draft.closed ? 'polygon' : 'polyline');
      shape.setAttribute('class', 'draft');
      svg.append(shape);
      this._draftShape = shape;
      if (draft.closed && draft.name) $.tags.append(this._tag(draft.name, draft.points));
    }
    this._drawHandles();
    this._movePoints();
    // The list of regions.
    $.list.replaceChildren(
      ...regions.map((r) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.dataset.id = r.id;
        b.setAttribute('aria-current', String(draft?.id === r.id));
        const name = document.createElement('span');
        name.textContent = r.name;
        b.append(name, document.createElement('small'));
        b.addEventListener('click', () => this._select(r.id));
        li.append(b);
        return li;
      }),
    );
    $.empty.hidden = !cam || regions.length > 0;
    $.add.disabled = !cam || !!draft || regions.length >= this._limits.max_regions;
    this._paintStates();
    this._controls();
  }

  _tag(name, points, id) {
    const tag = document.createElement('div');
    tag.className = 'tag';
    tag.textContent = name;
    if (id) tag.dataset.id = id;
    const top = points.reduce((a, p) => (p[1] < a[1] ? p : a), points[0]);
    tag.style.left = `${Math.min(90, Math.max(10, top[0] * 100))}%`;
    tag.style.top = `${Math.max(4, top[1] * 100 - 4)}%`;
    return tag;
  }

  _drawHandles() {
    const draft = this._draft;
    const layer = this.$.handles;
    layer.replaceChildren();
    if (!draft) return;
    const pts = draft.points;
    pts.forEach((p, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = i === 0 && !draft.closed ? 'h corner first' : 'h corner';
      b.dataset.i = i;
      b.setAttribute('aria-label', i === 0 && !draft.closed ? 'Corner 1 (click to close the polygon)' : `Corner ${i + 1}`);
      b.setAttribute('aria-pressed', String(i === this._corner));
      layer.append(b);
    });
    if (draft.closed && pts.length < this._limits.max_points) {
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

  _movePoints() {
    // Only positions change (while dragging): no element is rebuilt.
    const draft = this._draft;
    if (!draft) return;
    const pts = draft.points;
    this._draftShape.setAttribute('points', pts.map((p) => p.join(',')).join(' '));
    for (const b of this.$.handles.children) {
      const i = Number(b.dataset.i);
      let [x, y] = pts[i];
      if (b.classList.contains('mid')) {
        const q = pts[(i + 1) % pts.length];
        x = (x + q[0]) / 2;
        y = (y + q[1]) / 2;
      }
      b.style.left = `${x * 100}%`;
      b.style.top = `${y * 100}%`;
    }
  }

  _controls() {
    const $ = this.$;
    const draft = this._draft;
    const drawing = draft && !draft.closed;
    const min = this._limits.min_points;
    this.toggleAttribute('drawing', !!drawing);
    $.close.hidden = $.undo.hidden = !drawing;
    $.close.disabled = !drawing || draft.points.length < min;
    $.undo.disabled = !drawing || !draft.points.length;
    $.rmcorner.hidden = !draft || !draft.closed;
    $.rmcorner.disabled = !draft || this._corner < 0 || draft.points.length <= min;
    $.hint.textContent = !this._camera()
      ? 'Choose a camera.'
      : drawing
        ? `Click the corners of the region on the picture (at least ${min}); click the first corner or "Close polygon" to finish.`
        : draft
          ? 'Drag the corners to move them; click a small dot on an edge to add a corner; double-click a corner (or select it and "Remove corner") to remove it.'
          : 'Select a region to edit it, or add one.';
    $.form.hidden = !draft;
    $.delete.hidden = !draft?.id;
    $.save.disabled = !draft || !draft.closed;
  }

  // ------------------------------------------------------------------ editing

  _startDraft() {
    this._draft = { id: null, name: '', points: [], closed: false, ...DEFAULTS };
    this._corner = -1;
    this._fillForm();
    this._redraw();
    this._setStatus(null);
    this.$.formtitle.textContent = 'New region';
  }

  _select(id) {
    const r = id && this._regions().find((x) => x.id === id);
    this._draft = r
      ? { id: r.id, name: r.name, detect: r.detect, points: r.points.map((p) => [...p]), sensitivity: r.sensitivity, off_delay: r.off_delay, closed: true }
      : null;
    this._corner = -1;
    if (this._status?.state === 'error') this._setStatus(null);
    this._fillForm();
    this._redraw();
    if (r) this.$.formtitle.textContent = `Edit "${r.name}"`;
  }

  _fillForm() {
    const d = this._draft || {};
    const $ = this.$;
    for (const f of ['name', 'detect', 'sensitivity', 'off_delay']) {
      $[`f-${f}`].value = d[f] ?? '';
      this._setError(f, '');
    }
    this._setError('points', '');
    this._setError('base', '');
  }

  _closeDraft() {
    const draft = this._draft;
    if (!draft || draft.points.length < this._limits.min_points) return;
    draft.closed = true;
    this._redraw();
    this.$['f-name'].focus();
  }

  _removeCorner(i) {
    const draft = this._draft;
    if (!draft?.closed || i < 0 || draft.points.length <= this._limits.min_points) return;
    draft.points.splice(i, 1);
    draft.dirty = true;
    this._corner = -1;
    this._setError('points', '');
    this._redraw();
  }

  _at(ev) {
    const box = this.$.pic.getBoundingClientRect();
    return [round((ev.clientX - box.left) / box.width), round((ev.clientY - box.top) / box.height)];
  }

  _handleIndex(ev, kind) {
    const b = ev.target.closest?.(`.h.${kind}`);
    return b ? Number(b.dataset.i) : -1;
  }

  _pointerDown(ev) {
    const draft = this._draft;
    if (!draft || ev.button > 0) return;
    let i = this._handleIndex(ev, 'corner');
    if (i === 0 && !draft.closed) return; // a click on the first corner closes (see _click)
    const mid = this._handleIndex(ev, 'mid');
    if (mid >= 0) {
      i = mid + 1;
      draft.points.splice(i, 0, this._at(ev));
      draft.dirty = true;
      this._corner = i;
      this._drawHandles();
      this._movePoints();
    }
    if (i < 0) return;
    ev.preventDefault();
    this._pickCorner(i);
    // Captured by the corner itself, so that click and dblclick still name it.
    this.$.handles.querySelector(`.corner[data-i="${i}"]`).setPointerCapture(ev.pointerId);
    this._drag = { i, id: ev.pointerId };
  }

  _pickCorner(i) {
    if (i < 0) return;
    this._corner = i;
    for (const b of this.$.handles.querySelectorAll('.corner')) b.setAttribute('aria-pressed', String(Number(b.dataset.i) === i));
    this._controls();
  }

  _pointerMove(ev) {
    const drag = this._drag;
    if (!drag || ev.pointerId !== drag.id) return;
    this._draft.points[drag.i] = this._at(ev);
    this._draft.dirty = true;
    this._movePoints();
  }

  _pointerUp(ev) {
    if (!this._drag || ev.pointerId !== this._drag.id) return;
    this._drag = null;
    this._setError('points', '');
    this._dragEnd = ev.timeStamp; // the click that ends a drag adds nothing
    if (this._redrawLater) this._redraw();
  }

  _click(ev) {
    const draft = this._draft;
    if (ev.timeStamp - this._dragEnd < 500) return;
    if (draft && !draft.closed) {
      if (this._handleIndex(ev, 'corner') === 0) return this._closeDraft();
      if (ev.target.closest('.h')) return;
      if (draft.points.length < this._limits.max_points) draft.points.push(this._at(ev));
      this._redraw();
      return;
    }
    const id = ev.target.dataset?.id;
    if (id && ev.target.classList.contains('region')) this._select(id);
  }

  _key(ev) {
    const i = this._handleIndex(ev, 'corner');
    const draft = this._draft;
    if (i < 0 || !draft) return;
    const step = ev.shiftKey ? 0.05 : 0.005;
    const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
    if (move) {
      ev.preventDefault();
      const p = draft.points[i];
      draft.points[i] = [round(p[0] + move[0]), round(p[1] + move[1])];
      draft.dirty = true;
      this._movePoints();
    } else if (ev.key === 'Delete' || ev.key === 'Backspace') {
      ev.preventDefault();
      this._removeCorner(i);
    }
  }

  // ------------------------------------------------------------------ saving

  _setError(field, text) {
    const el = this.$[`err-${field}`];
    if (el) el.textContent = text;
    this.$[`f-${field}`]?.setAttribute('aria-invalid', String(!!text));
  }

  _number(field) {
    const [lo, hi] = this._limits[field];
    const v = Number(this.$[`f-${field}`].value);
    if (this.$[`f-${field}`].value === '' || !Number.isInteger(v) || v < lo || v > hi) {
      this._setError(field, `Enter a whole number from ${lo} to ${hi}.`);
      return null;
    }
    return v;
  }

  async _save() {
    const draft = this._draft;
    const cam = this._camera();
    if (!draft?.closed || !cam) return;
    const sensitivity = this._number('sensitivity');
    const offDelay = this._number('off_delay');
    if (sensitivity === null || offDelay === null) return;
    for (const f of ['name', 'detect', 'points', 'sensitivity', 'off_delay', 'base']) this._setError(f, '');
    const msg = {
      type: 'roiwatch/region/save',
      entry_id: cam.entry_id,
      name: this.$['f-name'].value.trim(),
      detect: this.$['f-detect'].value,
      points: draft.points.map((p) => [...p]),
      sensitivity,
      off_delay: offDelay,
    };
    if (draft.id) msg.region_id = draft.id;
    const appliedBefore = this._hass.states[cam.entities?.applied]?.last_changed;
    this._setStatus('saving', 'Saving…');
    this.$.save.disabled = true;
    let res;
    try {
      res = await this._hass.callWS(msg);
    } catch (err) {
      this._setStatus('error', `Could not save: ${err.message || err.code || err}`);
      this._controls();
      return;
    }
    this._controls();
    if (res.errors) {
      for (const [field, key] of Object.entries(res.errors)) {
        const text = this._t(ERR + key, res.messages?.[field] || key);
        this._setError(field in { name: 1, detect: 1, points: 1, sensitivity: 1, off_delay: 1 } ? field : 'base', text);
      }
      this._setStatus('error', 'Not saved: see the message above.');
      return;
    }
    // Done editing: the region shows in its sensor's colour (unless the user went on meanwhile).
    if (this._draft === draft) this._select(null);
    this._applying(res.revision, cam, appliedBefore);
  }

  _applying(revision, cam, appliedBefore) {
    // HA answers with the revision it published; without one (the camera's entry was busy) the
    // re-lists tell when it publishes.
    const text = revision == null ? 'Applying…' : `Applying revision ${revision}…`;
    this._setStatus('applying', text, { revision, entry: cam.entry_id, appliedBefore, publishedBefore: cam.revision ?? 0 });
    this._poll();
  }

  _poll() {
    // Re-list while applying: fresh ids, entity ids and the published revision.
    clearTimeout(this._pollTimer);
    this._load().then(() => {
      if (this._status?.state === 'applying' && this.isConnected) this._pollTimer = setTimeout(() => this._poll(), 3000);
    });
  }

  _askDelete() {
    if (!this._draft?.id) return;
    this.$['confirm-text'].textContent = `Delete the region "${this._regions().find((r) => r.id === this._draft.id)?.name}"? Its sensor goes too.`;
    this.$.confirm.showModal();
  }

  async _delete() {
    const cam = this._camera();
    const id = this._draft?.id;
    if (!cam || !id) return;
    const appliedBefore = this._hass.states[cam.entities?.applied]?.last_changed;
    this._setStatus('saving', 'Deleting…');
    try {
      const res = await this._hass.callWS({ type: 'roiwatch/region/delete', entry_id: cam.entry_id, region_id: id });
      this._draft = null;
      this._select(null);
      this._applying(res.revision, cam, appliedBefore);
    } catch (err) {
      this._setStatus('error', `Could not delete: ${err.message || err.code || err}`);
    }
  }
}


if (!customElements.get('roiwatch-panel')) customElements.define('roiwatch-panel', RoiWatchPanel);
