// The integration's websocket API, as the panel uses it (see websocket_api.py for the contract).
// The camera listing comes by subscription (roiwatch/subscribe_cameras): no polling, no re-lists.

/** Calls `onListing({cameras, limits, defaults})` now and on every change; resolves to the unsubscriber. */
export function subscribeCameras(hass, onListing) {
  // home-assistant-js-websocket subscribes again by itself after a reconnect.
  return hass.connection.subscribeMessage(onListing, { type: 'roiwatch/subscribe_cameras' });
}

/** Create (no `region_id`) or update a region: `{region_id, revision}` or `{errors, messages}`. */
export function saveRegion(hass, entryId, regionId, fields) {
  const msg = { type: 'roiwatch/region/save', entry_id: entryId, ...fields };
  if (regionId) msg.region_id = regionId;
  return hass.callWS(msg);
}

/** Delete a region: `{revision}`. */
export function deleteRegion(hass, entryId, regionId) {
  return hass.callWS({ type: 'roiwatch/region/delete', entry_id: entryId, region_id: regionId });
}

/** What a failed call says (HA rejects with {code, message}, not an Error). */
export function errorText(err) {
  return err?.message || err?.code || String(err);
}
