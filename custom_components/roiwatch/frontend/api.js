// The integration's websocket API, as the panel uses it (see websocket_api.py for the contract).
// The camera listing comes by subscription (roiwatch/subscribe_cameras): no polling, no re-lists.
// The JSDoc types below are that contract's shapes (checked by tsc --checkJs, see tsconfig.json).

/**
 * What the panel uses of Home Assistant's `hass` object.
 * @typedef {object} Hass
 * @property {{subscribeMessage: (onMessage: (msg: any) => void, msg: object) => Promise<() => Promise<void>>}} connection
 * @property {(msg: object) => Promise<any>} callWS
 * @property {(method: string, path: string) => Promise<any>} callApi
 * @property {(key: string) => string} localize
 * @property {(category: string, integration: string) => Promise<unknown>} [loadBackendTranslation]
 * @property {Record<string, HassState | undefined>} states
 */
/** @typedef {{state: string, attributes: {access_token?: string}}} HassState */

/**
 * A number field's rule (protocol.FieldRule): any number from `min` to `max` that is a whole
 * multiple of `step` (null: any number in range).
 * @typedef {{min: number, max: number, step: number | null}} NumberRule
 */
/** @typedef {'sensitivity' | 'off_delay'} NumberField */
/**
 * The editor's limits: the region rules of the integration, as the API hands them over.
 * @typedef {{max_regions: number, min_points: number, max_points: number, name_max: number,
 *   detect: string[]} & Record<NumberField, NumberRule>} Limits
 */
/** @typedef {{detect: string, sensitivity: number, off_delay: number}} Defaults */
/** @typedef {[number, number]} Point  fractions 0..1 of the picture */
/**
 * @typedef {object} Region
 * @property {string} id
 * @property {string} name
 * @property {string} detect
 * @property {Point[]} points
 * @property {number} sensitivity
 * @property {number} off_delay
 * @property {string | null} entity_id
 */
/**
 * @typedef {object} Camera
 * @property {string} entry_id
 * @property {string} title
 * @property {boolean} loaded
 * @property {number | null} revision  the config revision HA last published
 * @property {number | null} running_revision  the revision the camera reports running
 * @property {{camera?: string | null, applied: string | null, running_revision: string | null, state: string | null}} entities
 * @property {Region[]} regions
 */
/** @typedef {{cameras: Camera[], limits: Limits, defaults: Defaults}} Listing */
/** @typedef {{name: string, detect: string, points: Point[], sensitivity: number, off_delay: number}} RegionFields */
/** @typedef {{errors: Record<string, string>, messages?: Record<string, string>}} Refusal */
/** @typedef {{region_id: string, revision: number | null, errors?: undefined} | Refusal} SaveAnswer */

/**
 * Calls `onListing({cameras, limits, defaults})` now and on every change; resolves to the unsubscriber.
 * @param {Hass} hass
 * @param {(listing: Listing) => void} onListing
 */
export function subscribeCameras(hass, onListing) {
  // home-assistant-js-websocket subscribes again by itself after a reconnect.
  return hass.connection.subscribeMessage(onListing, { type: 'roiwatch/subscribe_cameras' });
}

/**
 * Create (no `region_id`) or update a region: `{region_id, revision}` or `{errors, messages}`.
 * @param {Hass} hass
 * @param {string} entryId
 * @param {string | null} regionId
 * @param {RegionFields} fields
 * @returns {Promise<SaveAnswer>}
 */
export function saveRegion(hass, entryId, regionId, fields) {
  const msg = { type: 'roiwatch/region/save', entry_id: entryId, ...fields, ...(regionId ? { region_id: regionId } : {}) };
  return hass.callWS(msg);
}

/**
 * Delete a region: `{revision}`.
 * @param {Hass} hass
 * @param {string} entryId
 * @param {string} regionId
 * @returns {Promise<{revision: number | null}>}
 */
export function deleteRegion(hass, entryId, regionId) {
  return hass.callWS({ type: 'roiwatch/region/delete', entry_id: entryId, region_id: regionId });
}

/**
 * What a failed call says (HA rejects with {code, message}, not an Error).
 * @param {any} err
 */
export function errorText(err) {
  return err?.message || err?.code || String(err);
}
