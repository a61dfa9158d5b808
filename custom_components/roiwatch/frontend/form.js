// The region form: its limits (from the API's `limits`), its values, the field errors (the
// integration's translated texts) and reading what was typed.

const ERR = 'component.roiwatch.config_subentries.roi.error.';
const FIELD = 'component.roiwatch.config_subentries.roi.step.user.data.';
export const FIELDS = ['name', 'detect', 'sensitivity', 'off_delay'];
const ENGLISH = { name: 'Name', detect: 'Detect', sensitivity: 'Sensitivity', off_delay: 'Off delay' };
const DETECT_TEXT = { person: 'Person', motion: 'Motion' };

/** `localize(key)` of HA, or the English text where there is no translation. */
export const translator = (hass) => (key, english) => hass?.localize?.(key) || english;

/** The field labels in the user's language (once the integration's translations are loaded). */
export function showLabels($, t) {
  for (const f of FIELDS) $[`l-${f}`].textContent = t(FIELD + f, ENGLISH[f]) + (f === 'off_delay' ? ' (s)' : '');
}

/** The inputs' bounds and the detect options: exactly the API's limits. */
export function applyLimits($, limits) {
  $['f-detect'].replaceChildren(...limits.detect.map((d) => new Option(DETECT_TEXT[d] || d, d)));
  Object.assign($['f-name'], { maxLength: limits.name_max });
  for (const f of ['sensitivity', 'off_delay']) Object.assign($[`f-${f}`], { min: limits[f][0], max: limits[f][1] });
}

export function setError($, field, text) {
  const el = $[`err-${field}`];
  if (el) el.textContent = text;
  $[`f-${field}`]?.setAttribute('aria-invalid', String(!!text));
}

export function clearErrors($) {
  for (const f of [...FIELDS, 'points', 'base']) setError($, f, '');
}

/** The form shows `draft` (or is emptied). */
export function fillForm($, draft) {
  for (const f of FIELDS) $[`f-${f}`].value = draft?.[f] ?? '';
  clearErrors($);
}

function readNumber($, field, limits) {
  const [lo, hi] = limits[field];
  const raw = $[`f-${field}`].value;
  const v = Number(raw);
  if (raw === '' || !Number.isInteger(v) || v < lo || v > hi) {
    setError($, field, `Enter a whole number from ${lo} to ${hi}.`);
    return null;
  }
  return v;
}

/** The region's fields as typed, or null (with the errors shown) if a number is out of bounds. */
export function readForm($, limits, points) {
  const sensitivity = readNumber($, 'sensitivity', limits);
  const offDelay = readNumber($, 'off_delay', limits);
  if (sensitivity === null || offDelay === null) return null;
  clearErrors($);
  return {
    name: $['f-name'].value.trim(),
    detect: $['f-detect'].value,
    points: points.map((p) => [...p]),
    sensitivity,
    off_delay: offDelay,
  };
}

/** A refusal of the API: each error at its field (or the form's), in the user's language. */
export function showRefusal($, res, t) {
  for (const [field, key] of Object.entries(res.errors)) {
    const text = t(ERR + key, res.messages?.[field] || key);
    setError($, field === 'points' || FIELDS.includes(field) ? field : 'base', text);
  }
}
