// What the status line says about a save: saving, applying, applied (or an error), and when a
// save counts as applied: the camera reports running its revision, as the subscription pushes.
// Pure functions of the status and the pushed listing.

/** @import {Camera} from './api.js' */
/**
 * @typedef {{state: 'saving', deleting?: boolean}
 *   | {state: 'applying' | 'applied', entry: string, revision: number | null, publishedBefore: number}
 *   | {state: 'error', text: string}} Status
 */

/**
 * A save (or delete) answered with `revision` (null: HA has not named it yet) for camera `cam`.
 * @param {number | null} revision
 * @param {Camera} cam
 * @returns {Status}
 */
export function applying(revision, cam) {
  return { state: 'applying', entry: cam.entry_id, revision, publishedBefore: cam.revision ?? 0 };
}

/**
 * The status once `cameras` (the pushed listing) is known: applied the moment the camera runs it.
 * @param {Status | null} status
 * @param {Camera[]} cameras
 * @returns {Status | null}
 */
export function advance(status, cameras) {
  if (status?.state !== 'applying') return status;
  const cam = cameras.find((c) => c.entry_id === status.entry);
  if (!cam) return status;
  // Without a revision in the answer (not published in time), the next one HA publishes is it.
  const revision = status.revision ?? ((cam.revision ?? 0) > status.publishedBefore ? cam.revision : null);
  if (revision == null) return status;
  const running = cam.running_revision;
  const state = running != null && running >= revision ? 'applied' : 'applying';
  return state === status.state && revision === status.revision ? status : { ...status, state, revision };
}

/**
 * The status line's text.
 * @param {Status | null} status
 */
export function statusText(status) {
  switch (status?.state) {
    case 'saving':
      return status.deleting ? 'Deleting…' : 'Saving…';
    case 'applying':
      return status.revision == null ? 'Applying…' : `Applying revision ${status.revision}…`;
    case 'applied':
      return `Applied: the camera runs revision ${status.revision}.`;
    case 'error':
      return status.text;
    default:
      return '';
  }
}
