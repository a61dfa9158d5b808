// The panel's look: its style sheet and markup (ids are what the other modules use).

/**
 * The panel's elements by id, as `HTML` makes them (the panel's `$`).
 * @typedef {{
 *   menuslot: HTMLSpanElement, menu: HTMLButtonElement, camera: HTMLSelectElement, 'load-error': HTMLDivElement,
 *   pic: HTMLDivElement, placeholder: HTMLDivElement, live: HTMLImageElement, svg: SVGSVGElement,
 *   tags: HTMLDivElement, handles: HTMLDivElement, hint: HTMLParagraphElement,
 *   add: HTMLButtonElement, close: HTMLButtonElement, undo: HTMLButtonElement, rmcorner: HTMLButtonElement,
 *   list: HTMLUListElement, empty: HTMLParagraphElement, form: HTMLFormElement, formtitle: HTMLHeadingElement,
 *   'f-name': HTMLInputElement, 'f-detect': HTMLSelectElement,
 *   'f-sensitivity': HTMLInputElement, 'f-off_delay': HTMLInputElement,
 *   'l-name': HTMLLabelElement, 'l-detect': HTMLLabelElement, 'l-sensitivity': HTMLLabelElement, 'l-off_delay': HTMLLabelElement,
 *   'err-name': HTMLDivElement, 'err-detect': HTMLDivElement, 'err-sensitivity': HTMLDivElement,
 *   'err-off_delay': HTMLDivElement, 'err-points': HTMLDivElement, 'err-base': HTMLDivElement,
 *   save: HTMLButtonElement, cancel: HTMLButtonElement, delete: HTMLButtonElement, status: HTMLDivElement,
 *   confirm: HTMLDialogElement, 'confirm-text': HTMLParagraphElement,
 *   'confirm-no': HTMLButtonElement, 'confirm-yes': HTMLButtonElement,
 * }} Elements
 */

export const CSS = `
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

export const HTML = `
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
