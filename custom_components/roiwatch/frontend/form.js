// The region form: its rules (the API's `limits`), its values, the field errors (the
// integration's translated texts) and reading what was typed. What a number field accepts is
// `parseNumber`: a pure function of the field's rule as the API hands it over, the same rule the
// server checks (protocol.FieldRule; tests/agent/test_panel_rules.py holds the two together).

/** @import {Hass, Limits, NumberField, NumberRule, Point, Refusal, RegionFields} from './api.js' */
/** @import {Elements} from './view.js' */
/** @typedef {'name' | 'detect' | NumberField} Field */
/** @typedef {Field | 'points' | 'base'} ErrorField  where an error shows */
/** @typedef {{name: string, detect: string} & Record<NumberField, string | number>} FormValues  as typed or saved */
/** @typedef {(key: string, english: string) => string} Translate */

const ERR = 'component.roiwatch.config_subentries.roi.error.';
const FIELD = 'component.roiwatch.config_subentries.roi.step.user.data.';
/** @type {Field[]} */
export const FIELDS = ['name', 'detect', 'sensitivity', 'off_delay'];
/** @type {NumberField[]} */
const NUMBER_FIELDS = ['sensitivity', 'off_delay'];
/** @type {Record<Field, string>} */
const ENGLISH = { name: 'Name', detect: 'Detect', sensitivity: 'Sensitivity', off_delay: 'Off delay' };
/** @type {Record<string, string>} */
const DETECT_TEXT = { person: 'Person', motion: 'Motion' };

// What a number input's value is when it holds a number: HTML's "valid floating-point number".
const NUMBER_TEXT = /^-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Whether `rule` accepts `value`, as protocol.FieldRule.check does: a finite number from min to
 * max and, unless the step is null, an exact multiple of the step.
 * @param {NumberRule} rule
 * @param {number} value
 */
export function acceptsNumber(rule, value) {
  if (!Number.isFinite(value) || value < rule.min || value > rule.max) return false;
  // (JS's % keeps the dividend's sign, Python's the divisor's: either is 0 exactly when the other is.)
  return rule.step === null || value % rule.step === 0;
}

/**
 * The number a number input's text `raw` holds, if `rule` accepts it; otherwise null.
 * @param {NumberRule} rule
 * @param {string} raw
 * @returns {number | null}
 */
export function parseNumber(rule, raw) {
  if (!NUMBER_TEXT.test(raw)) return null;
  const value = Number(raw);
  return acceptsNumber(rule, value) ? value : null;
}

/**
 * What `rule` asks for, in the user's words.
 * @param {NumberRule} rule
 */
export function ruleText(rule) {
  const range = `from ${rule.min} to ${rule.max}`;
  if (rule.step === 1) return `Enter a whole number ${range}.`;
  if (rule.step === null) return `Enter a number ${range}.`;
  return `Enter a number ${range}, in steps of ${rule.step}.`;
}

/**
 * The input of field `f`.
 * @param {Elements} $
 * @param {Field} f
 */
const input = ($, f) => $[`f-${f}`];

/**
 * `localize(key)` of HA, or the English text where there is no translation.
 * @param {Hass | undefined} hass
 * @returns {Translate}
 */
export const translator = (hass) => (key, english) => hass?.localize?.(key) || english;

/**
 * The field labels in the user's language (once the integration's translations are loaded).
 * @param {Elements} $
 * @param {Translate} t
 */
export function showLabels($, t) {
  for (const f of FIELDS) $[`l-${f}`].textContent = t(FIELD + f, ENGLISH[f]) + (f === 'off_delay' ? ' (s)' : '');
}

/**
 * The inputs' bounds and the detect options: exactly the API's limits.
 * @param {Elements} $
 * @param {Limits} limits
 */
export function applyLimits($, limits) {
  $['f-detect'].replaceChildren(...limits.detect.map((d) => new Option(DETECT_TEXT[d] || d, d)));
  $['f-name'].maxLength = limits.name_max;
  for (const f of NUMBER_FIELDS) {
    const { min, max, step } = limits[f];
    // A phone's keyboard without a decimal point where only whole numbers go.
    const inputMode = step !== null && Number.isInteger(step) ? 'numeric' : 'decimal';
    Object.assign($[`f-${f}`], { min: String(min), max: String(max), step: step === null ? 'any' : String(step), inputMode });
  }
}

/**
 * Show `text` at `field` (the empty text: no error).
 * @param {Elements} $
 * @param {ErrorField} field
 * @param {string} text
 */
export function setError($, field, text) {
  $[`err-${field}`].textContent = text;
  if (field !== 'points' && field !== 'base') input($, field).setAttribute('aria-invalid', String(!!text));
}

/** @param {Elements} $ */
export function clearErrors($) {
  for (const f of [...FIELDS, 'points', 'base']) setError($, /** @type {ErrorField} */ (f), '');
}

/**
 * The form shows `values` (or is emptied).
 * @param {Elements} $
 * @param {FormValues | null} values
 */
export function fillForm($, values) {
  for (const f of FIELDS) input($, f).value = String(values?.[f] ?? '');
  clearErrors($);
}

/**
 * The number typed in `field`, or null (with the error shown) if its rule refuses it.
 * @param {Elements} $
 * @param {NumberField} field
 * @param {Limits} limits
 */
function readNumber($, field, limits) {
  const value = parseNumber(limits[field], $[`f-${field}`].value);
  if (value === null) setError($, field, ruleText(limits[field]));
  return value;
}

/**
 * The region's fields as typed, or null (with the errors shown) if a number is refused.
 * @param {Elements} $
 * @param {Limits} limits
 * @param {Point[]} points
 * @returns {RegionFields | null}
 */
export function readForm($, limits, points) {
  const sensitivity = readNumber($, 'sensitivity', limits);
  const offDelay = readNumber($, 'off_delay', limits);
  if (sensitivity === null || offDelay === null) return null;
  clearErrors($);
  return {
    name: $['f-name'].value.trim(),
    detect: $['f-detect'].value,
    points: points.map((p) => /** @type {Point} */ ([...p])),
    sensitivity,
    off_delay: offDelay,
  };
}

/**
 * A refusal of the API: each error at its field (or the form's), in the user's language.
 * @param {Elements} $
 * @param {Refusal} res
 * @param {Translate} t
 */
export function showRefusal($, res, t) {
  for (const [field, key] of Object.entries(res.errors)) {
    const text = t(ERR + key, res.messages?.[field] || key);
    const at = /** @type {ErrorField[]} */ ([...FIELDS, 'points']).find((f) => f === field) ?? 'base';
    setError($, at, text);
  }
}
