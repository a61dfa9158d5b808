// Pointer and keyboard input on the picture: clicks add corners while drawing, corners are
// dragged (pointer capture on the corner itself), an edge's handle adds a corner, a double click
// or Delete removes one, arrow keys move the focused corner. What it changes goes through `editor`.

/** @import {Point} from './api.js' */
/** @import {Draft} from './drawing.js' */

/** @param {number} v */
const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;

/**
 * The index of the handle of `kind` the event is on, or -1.
 * @param {Event} ev
 * @param {'corner' | 'mid'} kind
 */
const handleIndex = (ev, kind) => {
  const b = /** @type {HTMLElement | null} */ (/** @type {Element} */ (ev.target).closest?.(`.h.${kind}`));
  return b ? Number(b.dataset.i) : -1;
};

/**
 * `editor`: draft() (the region being drawn or edited, or null), maxPoints(), pickCorner(i),
 * closeDraft(), removeCorner(i), select(id), added() (a corner was inserted: handles anew),
 * moved() (points moved: positions only), redraw() (a corner was added while drawing),
 * dragEnded().
 * @typedef {{draft: () => Draft | null, maxPoints: () => number, pickCorner: (i: number) => void,
 *   closeDraft: () => void, removeCorner: (i: number) => void, select: (id: string) => void,
 *   added: (i: number) => void, moved: () => void, redraw: () => void, dragEnded: () => void}} Editor
 */
export class PointerInput {
  /**
   * @param {HTMLElement} pic  the picture, with the regions and the handles over it
   * @param {HTMLElement} handles  the handles' layer
   * @param {Editor} editor
   */
  constructor(pic, handles, editor) {
    this._pic = pic;
    this._handles = handles;
    this._editor = editor;
    /** @type {{i: number, id: number} | null} the corner dragged, by which pointer */
    this._drag = null;
    this._dragEnd = -Infinity;
    pic.addEventListener('pointerdown', (ev) => this._down(ev));
    pic.addEventListener('pointermove', (ev) => this._move(ev));
    pic.addEventListener('pointerup', (ev) => this._up(ev));
    pic.addEventListener('pointercancel', (ev) => this._up(ev));
    pic.addEventListener('click', (ev) => this._click(ev));
    pic.addEventListener('dblclick', (ev) => {
      const i = handleIndex(ev, 'corner');
      if (i >= 0) editor.removeCorner(i);
    });
    handles.addEventListener('keydown', (ev) => this._key(ev));
    handles.addEventListener('focusin', (ev) => editor.pickCorner(handleIndex(ev, 'corner')));
  }

  /** True while a corner is dragged (a redraw then would replace the handle being dragged). */
  get dragging() {
    return !!this._drag;
  }

  /**
   * Where the pointer is, in fractions of the picture.
   * @param {PointerEvent | MouseEvent} ev
   * @returns {Point}
   */
  _at(ev) {
    const box = this._pic.getBoundingClientRect();
    return [round((ev.clientX - box.left) / box.width), round((ev.clientY - box.top) / box.height)];
  }

  /** @param {PointerEvent} ev */
  _down(ev) {
    // A new press: the click it ends is the user's own, however soon after a drag (only the
    // click that ends the drag itself comes without a press of its own).
    this._dragEnd = -Infinity;
    const draft = this._editor.draft();
    if (!draft || ev.button > 0) return;
    let i = handleIndex(ev, 'corner');
    if (i === 0 && !draft.closed) return; // a click on the first corner closes (see _click)
    const mid = handleIndex(ev, 'mid');
    if (mid >= 0) {
      i = mid + 1;
      draft.points.splice(i, 0, this._at(ev));
      draft.dirty = true;
      this._editor.added(i);
    }
    if (i < 0) return;
    ev.preventDefault();
    this._editor.pickCorner(i);
    // Captured by the corner itself, so that click and dblclick still name it.
    /** @type {Element} */ (this._handles.querySelector(`.corner[data-i="${i}"]`)).setPointerCapture(ev.pointerId);
    this._drag = { i, id: ev.pointerId };
  }

  /** @param {PointerEvent} ev */
  _move(ev) {
    const drag = this._drag;
    if (!drag || ev.pointerId !== drag.id) return;
    const draft = this._editor.draft();
    if (!draft) return;
    draft.points[drag.i] = this._at(ev);
    draft.dirty = true;
    this._editor.moved();
  }

  /** @param {PointerEvent} ev */
  _up(ev) {
    if (!this._drag || ev.pointerId !== this._drag.id) return;
    this._drag = null;
    this._dragEnd = ev.timeStamp; // the click that ends a drag adds nothing
    this._editor.dragEnded();
  }

  /** @param {MouseEvent} ev */
  _click(ev) {
    const draft = this._editor.draft();
    const target = /** @type {HTMLElement | SVGElement} */ (ev.target);
    if (ev.timeStamp - this._dragEnd < 500) return;
    if (draft && !draft.closed) {
      if (handleIndex(ev, 'corner') === 0) return this._editor.closeDraft();
      if (target.closest('.h')) return;
      if (draft.points.length < this._editor.maxPoints()) draft.points.push(this._at(ev));
      this._editor.redraw();
      return;
    }
    const id = target.dataset?.id;
    if (id && target.classList.contains('region')) this._editor.select(id);
  }

  /** @param {KeyboardEvent} ev */
  _key(ev) {
    const i = handleIndex(ev, 'corner');
    const draft = this._editor.draft();
    if (i < 0 || !draft) return;
    const step = ev.shiftKey ? 0.05 : 0.005;
    const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
    if (move) {
      ev.preventDefault();
      const p = draft.points[i];
      draft.points[i] = [round(p[0] + move[0]), round(p[1] + move[1])];
      draft.dirty = true;
      this._editor.moved();
    } else if (ev.key === 'Delete' || ev.key === 'Backspace') {
      ev.preventDefault();
      this._editor.removeCorner(i);
    }
  }
}
