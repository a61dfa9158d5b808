// RoiWatch region editor: a Home Assistant sidebar panel (panel_custom, admins only).
// A plain web component in ES modules served from the integration's folder (no build step,
// nothing fetched from outside); HA sets `hass`, `narrow`, `route` and `panel`. The regions are
// drawn over the camera's live picture. The cameras, their regions and revisions and the
// editor's limits come by subscription (roiwatch/subscribe_cameras): "Applied" shows the moment
// the camera reports running the saved revision, with no polling.

import { deleteRegion, errorText, saveRegion, subscribeCameras } from './api.js';
import { advance, applying, statusText } from './apply-state.js';
import { STATE_TEXT, drawHandles, drawRegions, movePoints, paintStates } from './drawing.js';
import { applyLimits, fillForm, readForm, setError, showLabels, showRefusal, translator } from './form.js';
import { PointerInput } from './pointer.js';
import { CSS, HTML } from './view.js';

/** @import {Camera, Hass, HassState, Listing} from './api.js' */
/** @import {Status} from './apply-state.js' */
/** @import {Draft} from './drawing.js' */
/** @import {Field, Translate} from './form.js' */
/** @import {Elements} from './view.js' */
/** @typedef {HTMLElement & {hass: Hass, narrow: boolean}} MenuButton  HA's ha-menu-button */

class RoiWatchPanel extends HTMLElement {
  // Undefined until the first `hass` (_init): nothing but the guards reads them before.
  /** @type {Hass} */
  _hass = /** @type {any} */ (undefined);
  /** @type {Translate} */
  _t = /** @type {any} */ (undefined);
  /** @type {Elements} */
  $ = /** @type {any} */ (undefined);
  /** @type {PointerInput} */
  _pointer = /** @type {any} */ (undefined);

  constructor() {
    super();
    /** @type {Listing | null} as last pushed */
    this._listing = null;
    /** @type {string | null} the selected camera's entry_id */
    this._entry = null;
    /** @type {Draft | null} */
    this._draft = null;
    this._corner = -1; // the selected corner of the draft
    /** @type {Status | null} */
    this._status = null;
    /** @type {Map<string, HassState | undefined>} region id -> state object last painted */
    this._painted = new Map();
    /** @type {Promise<() => Promise<void>> | null} Promise of the unsubscriber */
    this._subscription = null;
    /** @type {string | null} the live picture's URL shown ('' none; null: to be set) */
    this._pictureKey = null;
    /** @type {string | undefined} what the editor last drew of the camera (see _shown) */
    this._drawn = undefined;
    /** @type {SVGElement | null} */
    this._draftShape = null;
    this._redrawLater = false;
    /** @type {number | undefined} */
    this._fitTimer = undefined;
    /** @type {MenuButton | undefined} */
    this._menuButton = undefined;
    /** @type {Hass['localize'] | undefined} the one the labels were shown with */
    this._localize = undefined;
    this._narrow = false;
  }

  /** @param {Hass} hass */
  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    this._t = translator(hass);
    if (first) this._init();
    this._update();
  }

  get hass() {
    return this._hass;
  }

  /** @param {boolean} value */
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
    this._subscribe();
    this._showPicture(true);
  }

  disconnectedCallback() {
    // Closed: no listener stays behind in HA, and an MJPEG stream stays open as long as an <img> shows it.
    this._unsubscribe();
    clearTimeout(this._fitTimer);
    if (this.$) {
      this.$.live.removeAttribute('src');
      this._pictureKey = null;
    }
  }

  // ------------------------------------------------------------------ setup

  _init() {
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${CSS}</style>${HTML}`;
    this.$ = /** @type {Elements} */ (new Proxy({}, { get: (_, id) => root.getElementById(String(id)) }));
    const $ = this.$;
    this._useMenuButton();
    $.camera.addEventListener('change', () => this._selectCamera($.camera.value));
    $.add.addEventListener('click', () => this._startDraft());
    $.close.addEventListener('click', () => this._closeDraft());
    $.undo.addEventListener('click', () => {
      this._draft?.points.pop();
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
      const input = /** @type {HTMLInputElement | HTMLSelectElement} */ (ev.target);
      const name = /** @type {Field} */ (input.name);
      this._draft[name] = input.value;
      this._draft.dirty = true;
      setError($, name, '');
    });
    $['confirm-no'].addEventListener('click', () => $.confirm.close());
    $['confirm-yes'].addEventListener('click', () => {
      $.confirm.close();
      this._delete();
    });
    $.live.addEventListener('load', () => this._fitPicture());
    this._pointer = new PointerInput($.pic, $.handles, {
      draft: () => this._draft,
      maxPoints: () => this._listing?.limits.max_points ?? 0,
      pickCorner: (i) => this._pickCorner(i),
      closeDraft: () => this._closeDraft(),
      removeCorner: (i) => this._removeCorner(i),
      select: (id) => this._select(id),
      added: (i) => {
        this._corner = i;
        this._drawHandles();
        this._movePoints();
      },
      moved: () => this._movePoints(),
      redraw: () => this._redraw(),
      dragEnded: () => {
        setError($, 'points', '');
        if (this._redrawLater) this._redraw();
      },
    });
    $.add.disabled = true; // until the first listing (and its limits) is pushed
    this._translate();
    this._subscribe();
  }

  _useMenuButton() {
    // HA's own menu button once the frontend has defined it; until then a plain one that asks
    // HA to toggle the sidebar the same way.
    this.$.menu.addEventListener('click', () =>
      this.dispatchEvent(new Event('hass-toggle-menu', { bubbles: true, composed: true })),
    );
    customElements.whenDefined('ha-menu-button').then(() => {
      const button = /** @type {MenuButton} */ (document.createElement('ha-menu-button'));
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

  // ------------------------------------------------------------------ the pushed listing

  _subscribe() {
    if (this._subscription || !this._hass || !this.isConnected) return;
    const subscription = subscribeCameras(this._hass, (listing) => this._onListing(listing));
    this._subscription = subscription;
    subscription.catch((err) => {
      if (this._subscription === subscription) this._subscription = null;
      this.$['load-error'].textContent = `Could not list the cameras: ${errorText(err)}`;
    });
  }

  _unsubscribe() {
    const subscription = this._subscription;
    this._subscription = null;
    // (Once the connection is gone there is nothing to unsubscribe from.)
    subscription?.then((unsubscribe) => unsubscribe()).catch(() => {});
  }

  /** @param {Listing} listing */
  _onListing(listing) {
    const $ = this.$;
    $['load-error'].textContent = '';
    const limitsChanged = JSON.stringify(listing.limits) !== JSON.stringify(this._listing?.limits);
    this._listing = listing;
    if (limitsChanged) {
      applyLimits($, listing.limits);
      if (this._draft) $['f-detect'].value = this._draft.detect;
    }
    this._fillCameras();
    // Redraw only what changed: a push of a new revision leaves the editor alone.
    const drawn = this._shown();
    if (drawn !== this._drawn) {
      this._drawn = drawn;
      const draft = this._draft;
      const region = draft?.id && this._regions().find((r) => r.id === draft.id);
      if (region && !draft?.dirty) this._select(region.id);
      else if (draft?.id && !region) this._select(null);
      else this._redraw();
    }
    this._setStatus(advance(this._status, listing.cameras));
    this._update();
  }

  _fillCameras() {
    const cams = this._listing?.cameras ?? [];
    if (!cams.some((c) => c.entry_id === this._entry)) this._entry = cams.length === 1 ? cams[0].entry_id : null;
    const options = cams.map((c) => new Option(c.loaded ? c.title : `${c.title} (not loaded)`, c.entry_id));
    if (!this._entry) options.unshift(new Option(cams.length ? 'Choose a camera' : 'No RoiWatch cameras', ''));
    this.$.camera.replaceChildren(...options);
    this.$.camera.value = this._entry || '';
  }

  /** What the editor draws of the selected camera (not its revisions). */
  _shown() {
    const { running_revision: _running, revision: _revision, ...shown } = this._camera() || {};
    return JSON.stringify(shown);
  }

  _camera() {
    return this._listing?.cameras.find((c) => c.entry_id === this._entry) || null;
  }

  _regions() {
    return this._camera()?.regions || [];
  }

  /** @param {string} entryId */
  _selectCamera(entryId) {
    this._entry = entryId || null;
    this._drawn = this._shown();
    this._draft = null;
    this._setStatus(null);
    this._fillCameras();
    this._select(null);
    this._update();
  }

  /** The editor's limits: its controls that read them work only once a listing was pushed. */
  get _limits() {
    return /** @type {Listing} */ (this._listing).limits;
  }

  /** The shadow root (made by _init). */
  get _root() {
    return /** @type {ShadowRoot} */ (this.shadowRoot);
  }

  // ------------------------------------------------------------------ hass changes (states)

  _update() {
    if (!this.$) return;
    const hass = this._hass;
    if (this._menuButton) this._menuButton.hass = hass;
    if (hass.localize !== this._localize) {
      this._localize = hass.localize;
      showLabels(this.$, this._t);
    }
    this._showPicture(false);
    paintStates(this._root, this._regions(), hass.states, this._painted);
  }

  /** @param {boolean} force */
  _showPicture(force) {
    const cam = this._camera();
    const id = cam?.entities?.camera;
    const st = id ? this._hass.states[id] : undefined;
    const token = st?.attributes?.access_token;
    const src = token && st?.state !== 'unavailable' ? `/api/camera_proxy_stream/${id}?token=${encodeURIComponent(token)}` : '';
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
    if (img.hidden || !this.isConnected) return;
    if (img.naturalWidth) this.$.pic.style.aspectRatio = `${img.naturalWidth}/${img.naturalHeight}`;
    else this._fitTimer = setTimeout(() => this._fitPicture(), 500); // an MJPEG stream may not fire load
  }

  /** @param {Status | null} status */
  _setStatus(status) {
    this._status = status;
    const el = this.$.status;
    const text = statusText(status);
    el.dataset.state = status?.state || '';
    if (el.textContent !== text) el.textContent = text;
  }

  // ------------------------------------------------------------------ drawing

  _redraw() {
    // Never mid-drag: that would replace the handle being dragged.
    this._redrawLater = this._pointer.dragging;
    if (this._redrawLater) return;
    const $ = this.$;
    const draft = this._draft;
    const cam = this._camera();
    const regions = this._regions();
    this._draftShape = drawRegions($.svg, $.tags, regions, draft);
    this._painted.clear();
    this._drawHandles();
    this._movePoints();
    $.list.replaceChildren(
      ...regions.map((r) => {
        const li = document.createElement('li');
        const b = document.createElement('button');
        b.dataset.id = r.id;
        b.setAttribute('aria-current', String(draft?.id === r.id));
        const name = document.createElement('span');
        name.textContent = r.name;
        const state = document.createElement('small');
        state.textContent = STATE_TEXT.na;
        b.append(name, state);
        b.addEventListener('click', () => this._select(r.id));
        li.append(b);
        return li;
      }),
    );
    $.empty.hidden = !cam || regions.length > 0;
    $.add.disabled = !cam || !!draft || regions.length >= this._limits.max_regions;
    paintStates(this._root, regions, this._hass.states, this._painted);
    this._controls();
  }

  _drawHandles() {
    drawHandles(this.$.handles, this._draft, this._corner, this._listing?.limits.max_points ?? 0);
  }

  _movePoints() {
    if (this._draft) movePoints(this._draftShape, this.$.handles, this._draft.points);
  }

  _controls() {
    const $ = this.$;
    const draft = this._draft;
    const drawing = draft && !draft.closed;
    const min = this._listing?.limits.min_points ?? 0;
    this.toggleAttribute('drawing', !!drawing);
    $.close.hidden = $.undo.hidden = !drawing;
    $.close.disabled = !drawing || !draft || draft.points.length < min;
    $.undo.disabled = !drawing || !draft?.points.length;
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
    if (!this._listing) return;
    this._draft = { id: null, name: '', points: [], closed: false, ...this._listing.defaults };
    this._corner = -1;
    fillForm(this.$, this._draft);
    this._redraw();
    this._setStatus(null);
    this.$.formtitle.textContent = 'New region';
  }

  /** @param {string | null} id */
  _select(id) {
    const r = id && this._regions().find((x) => x.id === id);
    this._draft = r
      ? { id: r.id, name: r.name, detect: r.detect, points: r.points.map(([x, y]) => [x, y]), sensitivity: r.sensitivity, off_delay: r.off_delay, closed: true }
      : null;
    this._corner = -1;
    if (this._status?.state === 'error') this._setStatus(null);
    fillForm(this.$, this._draft);
    this._redraw();
    if (r) this.$.formtitle.textContent = `Edit "${r.name}"`;
  }

  _closeDraft() {
    const draft = this._draft;
    if (!draft || draft.points.length < this._limits.min_points) return;
    draft.closed = true;
    this._redraw();
    this.$['f-name'].focus();
  }

  /** @param {number} i */
  _removeCorner(i) {
    const draft = this._draft;
    if (!draft?.closed || i < 0 || draft.points.length <= this._limits.min_points) return;
    draft.points.splice(i, 1);
    draft.dirty = true;
    this._corner = -1;
    setError(this.$, 'points', '');
    this._redraw();
  }

  /** @param {number} i */
  _pickCorner(i) {
    if (i < 0) return;
    this._corner = i;
    for (const b of /** @type {NodeListOf<HTMLElement>} */ (this.$.handles.querySelectorAll('.corner'))) b.setAttribute('aria-pressed', String(Number(b.dataset.i) === i));
    this._controls();
  }

  // ------------------------------------------------------------------ saving

  async _save() {
    const draft = this._draft;
    const cam = this._camera();
    if (!draft?.closed || !cam) return;
    const fields = readForm(this.$, this._limits, draft.points);
    if (!fields) return;
    this._setStatus({ state: 'saving' });
    this.$.save.disabled = true;
    let res;
    try {
      res = await saveRegion(this._hass, cam.entry_id, draft.id, fields);
    } catch (err) {
      this._setStatus({ state: 'error', text: `Could not save: ${errorText(err)}` });
      this._controls();
      return;
    }
    this._controls();
    if (res.errors) {
      showRefusal(this.$, res, this._t);
      this._setStatus({ state: 'error', text: 'Not saved: see the message above.' });
      return;
    }
    // Done editing: the region shows in its sensor's colour (unless the user went on meanwhile).
    if (this._draft === draft) this._select(null);
    this._applying(res.revision, cam);
  }

  /**
   * @param {number | null} revision
   * @param {Camera} cam  as it was before the change; the listing may already hold the revision running.
   */
  _applying(revision, cam) {
    this._setStatus(applying(revision, cam));
    this._setStatus(advance(this._status, this._listing?.cameras ?? []));
  }

  _askDelete() {
    const id = this._draft?.id;
    if (!id) return;
    this.$['confirm-text'].textContent = `Delete the region "${this._regions().find((r) => r.id === id)?.name}"? Its sensor goes too.`;
    this.$.confirm.showModal();
  }

  async _delete() {
    const cam = this._camera();
    const id = this._draft?.id;
    if (!cam || !id) return;
    this._setStatus({ state: 'saving', deleting: true });
    try {
      const res = await deleteRegion(this._hass, cam.entry_id, id);
      this._select(null);
      this._applying(res.revision, cam);
    } catch (err) {
      this._setStatus({ state: 'error', text: `Could not delete: ${errorText(err)}` });
    }
  }
}

if (!customElements.get('roiwatch-panel')) customElements.define('roiwatch-panel', RoiWatchPanel);
