// Real-browser test of the RoiWatch region editor panel (sidebar "RoiWatch", /roiwatch).
//
// Run by `scripts/demo --check --browser` like ui.test.mjs (HA_URL, HA_USERNAME, HA_PASSWORD).
// It logs in as the demo's admin, opens the panel, picks the Porch camera, watches its live
// picture change, draws a region by clicking 4 corners (the form's rules and defaults are the
// API's; a number its rule refuses is refused at its field, a fraction of a second of off delay
// taken), saves it and sees "Applied" once the camera runs the new revision, pushed by the
// panel's subscription (the page sends nothing but the save meanwhile: no polling); the
// region's binary_sensor reports. Then it drags a corner (the next revision is applied and the
// points are stored), gets a self-crossing polygon refused with the message at the picture,
// works at phone width, deletes the region through the panel's confirmation dialog, and leaves
// the panel (it unsubscribes). On Garden, a camera of Home Assistant (HA's MJPEG camera on the
// demo's picture server), it draws, saves and deletes a region the same way. Any uncaught error
// in the page fails it.
// Screenshots of the panel (wide and phone) go to docs/screenshots/ (or $ROIWATCH_SCREENSHOTS).
// Runs on the oldest and the newest Home Assistant (scripts/demo --ha oldest|newest).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launch, login, shot, skip, visible } from './browser.mjs';

const CAMERA = 'Porch';
const HA_CAMERA = 'Garden'; // the demo's camera of Home Assistant (kind "ha")
const SQUARE = [
  [0.3, 0.35],
  [0.55, 0.35],
  [0.55, 0.6],
  [0.3, 0.6],
];
const BOWTIE = [
  [0.05, 0.05],
  [0.25, 0.25],
  [0.25, 0.05],
  [0.05, 0.25],
];
const DRAGGED = [0.68, 0.66]; // where corner 3 of the square goes

let browser;
let page;
let panel;
let name;
let entryId;
let regionId;
/** Every websocket message the page sent, in order. */
const sent = [];
/** Websocket commands that failed, by message id: context for an uncaught error. */
const failed = [];

/** A websocket command, sent by the page's own Home Assistant connection (as the admin). */
function ws(msg) {
  return panel.evaluate((el, m) => el.hass.callWS(m), msg);
}

async function porch(title = CAMERA) {
  const { cameras } = await ws({ type: 'roiwatch/cameras' });
  return cameras.find((c) => c.title === title);
}

/** Click at a point of the picture given in fractions of its width and height. */
async function clickPicture([x, y]) {
  const box = await panel.locator('#pic').boundingBox();
  await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
}

async function drawPolygon(points, check = async () => {}) {
  await panel.getByRole('button', { name: 'Add region' }).click();
  await check();
  for (const p of points) await clickPicture(p);
  await panel.getByRole('button', { name: 'Close polygon' }).click();
}

/** The panel's own commands (roiwatch/...) the page sent from message `from` on. */
function roiwatchCommands(from) {
  return sent.slice(from).map((m) => m.type).filter((type) => type.startsWith('roiwatch/'));
}

/**
 * Click `button` (a save or a delete), wait for "Applied" and return the revision it names,
 * after checking what the status said on the way and that the page sent nothing but the
 * command itself meanwhile: "Applied" came by push, not by asking again (no polling).
 */
async function applied(button, command) {
  const from = sent.length;
  await page.evaluate(() => window.roiwatchStatus.splice(0)); // (what the status said before)
  await button.click();
  const status = panel.locator('#status[data-state="applied"]');
  await status.waitFor({ timeout: 120_000 });
  assert.deepEqual(roiwatchCommands(from), [command], 'the panel asked again while applying (polling)');
  const revision = Number((await status.textContent()).match(/revision (\d+)/)[1]);
  // At that moment the camera runs it, as the agent last told HA (its diagnostics say so).
  const diagnostics = await panel.evaluate((el, id) => el.hass.callApi('GET', `diagnostics/config_entry/${id}`), entryId);
  const running = diagnostics.data.camera.status.revision;
  assert.ok(running >= revision, `"Applied" shows revision ${revision}, the camera runs ${running}`);
  const said = await page.evaluate(() => window.roiwatchStatus.splice(0));
  // Saving, then "Applying…" ("Applying…" alone until HA names the revision it published)
  // unless the camera was quicker than the answer, then "Applied".
  const applying = (text) => text === `Applying revision ${revision}…` || text === 'Applying…';
  assert.ok(['Saving…', 'Deleting…'].includes(said[0]), JSON.stringify(said));
  assert.ok(said.slice(1, -1).every(applying), JSON.stringify(said));
  assert.equal(said.at(-1), `Applied: the camera runs revision ${revision}.`);
  return revision;
}

/** The new region's form holds exactly the API's rules and defaults (none hard-coded in the panel). */
async function formFollowsTheApi() {
  const { limits, defaults } = await ws({ type: 'roiwatch/cameras' });
  const field = (id) => panel.locator(`#f-${id}`);
  for (const f of ['sensitivity', 'off_delay']) {
    const { min, max, step } = limits[f]; // step null: any number in range
    const attrs = await field(f).evaluate((el) => [el.min, el.max, el.step]);
    assert.deepEqual(attrs, [String(min), String(max), step === null ? 'any' : String(step)], f);
    assert.equal(Number(await field(f).inputValue()), defaults[f], f);
  }
  assert.equal(await field('name').evaluate((el) => el.maxLength), limits.name_max);
  assert.deepEqual(await field('detect').evaluate((el) => [...el.options].map((o) => o.value)), limits.detect);
  assert.equal(await field('detect').inputValue(), defaults.detect);
  assert.match(await panel.locator('#hint').textContent(), new RegExp(`at least ${limits.min_points}\\)`));
}

/** The region's row in the panel's list, once its binary_sensor reports Clear or Detected. */
async function regionReports(regionName) {
  await panel.locator('#list button').filter({ hasText: regionName }).filter({ hasText: /Clear|Detected/ }).waitFor({
    timeout: 90_000,
  });
}

/** For the screenshots only: a save reloads the camera's entry, its picture returns with the next frame. */
async function pictureShows() {
  const img = await panel.locator('#live').elementHandle();
  await page.waitForFunction((el) => !el.hidden && el.naturalWidth > 0, img, { timeout: 30_000 }).catch(() => {});
}

/** The live picture's pixels, as the browser shows them. */
function livePixels() {
  return panel.locator('#live').screenshot();
}

const pageErrors = [];

before(async () => {
  if (skip) return;
  browser = await launch();
  page = browser.page;
  // Any uncaught error fails the test, the panel's or not: a rejected websocket call has no
  // stack to tell whose it is (HA rejects with {code, message}), so the failed commands are
  // reported with it.
  page.on('pageerror', (err) => pageErrors.push(err.stack || err.message || String(err)));
  // What was rejected, when it was not an Error (the page error then only says "Object").
  await page.addInitScript(() => {
    window.roiwatchRejections = [];
    window.addEventListener('unhandledrejection', (ev) => {
      window.roiwatchRejections.push(ev.reason instanceof Error ? String(ev.reason) : JSON.stringify(ev.reason));
    });
  });
  const frames = (payload) => {
    try {
      return [].concat(JSON.parse(payload));
    } catch {
      return [];
    }
  };
  page.on('websocket', (socket) => {
    socket.on('framesent', (frame) => sent.push(...frames(frame.payload)));
    socket.on('framereceived', (frame) => {
      for (const m of frames(frame.payload)) {
        if (m.type === 'result' && !m.success) failed.push({ command: sent.find((s) => s.id === m.id)?.type, error: m.error });
      }
    });
  });
});

after(async () => {
  await browser?.close();
});

test('RoiWatch region editor panel', { skip }, async (t) => {
  await t.test('an admin finds the panel in the sidebar and picks the camera', async () => {
    await login(page);
    await visible(page.locator('ha-sidebar').getByText('RoiWatch', { exact: true })).click();
    await page.waitForURL(/\/roiwatch$/);
    panel = page.locator('roiwatch-panel');
    await panel.getByRole('heading', { name: 'RoiWatch regions' }).waitFor();
    // Several cameras: none is preselected.
    await panel.getByLabel('Camera').selectOption({ label: CAMERA });
    // Everything the status line says, in order (it changes faster than a test can look).
    await panel.locator('#status').evaluate((el) => {
      window.roiwatchStatus = [];
      const seen = () => window.roiwatchStatus.push(el.textContent);
      new MutationObserver(seen).observe(el, { childList: true, characterData: true, subtree: true });
    });
    for (const region of ['Driveway', 'Lawn']) await regionReports(region);
    const camera = await porch();
    entryId = camera.entry_id;
    // Each region is drawn in its sensor's state: wait for a moment a person is in one (the
    // video's people walk through Driveway every few seconds) and check every region's polygon.
    const entities = Object.fromEntries(camera.regions.map((r) => [r.id, r.entity_id]));
    await page.waitForFunction(
      ([el, ids]) => {
        const polygons = [...el.shadowRoot.querySelectorAll('#svg polygon.region')];
        const shown = (p) => ({ on: 'on', off: 'off' })[el.hass.states[ids[p.dataset.id]]?.state] || 'na';
        return polygons.length === Object.keys(ids).length && polygons.every((p) => p.dataset.state === shown(p))
          && polygons.some((p) => p.dataset.state === 'on');
      },
      [await panel.elementHandle(), entities],
      { timeout: 90_000 },
    );
    const taken = new Set(camera.regions.map((r) => r.name));
    name = 'Doormat';
    for (let n = 2; taken.has(name); n++) name = `Doormat ${n}`;
  });

  await t.test('the live picture shows and moves', async () => {
    const img = panel.locator('#live');
    await img.waitFor();
    const size = await page.waitForFunction(
      (el) => el.naturalWidth > 0 && [el.naturalWidth, el.naturalHeight],
      await img.elementHandle(),
      { timeout: 60_000 },
    );
    const [width, height] = await size.jsonValue();
    assert.ok(width > 0 && height > 0);
    // The overlay keeps the picture's own aspect ratio (regions are fractions of the picture).
    const box = await panel.locator('#pic').boundingBox();
    assert.ok(Math.abs(box.width / box.height - width / height) < 0.02, `${box.width}x${box.height} vs ${width}x${height}`);
    // People walk through the video: the picture changes (no fixed wait: until it differs).
    const first = await livePixels();
    let changed = false;
    for (let i = 0; i < 60 && !changed; i++) {
      await page.waitForTimeout(500);
      changed = !first.equals(await livePixels());
    }
    assert.ok(changed, 'the live picture did not change in 30 s');
  });

  await t.test('a region drawn with 4 clicks is saved, applied and gets its sensor', async () => {
    await drawPolygon(SQUARE, formFollowsTheApi);
    await panel.getByLabel('Name').fill(name);
    await panel.getByLabel('Detect').selectOption('person');
    // A number its rule refuses (sensitivity: whole numbers) is refused at the field, nothing sent.
    const from = sent.length;
    await panel.locator('#f-sensitivity').fill('50.5');
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.locator('#err-sensitivity').filter({ hasText: 'Enter a whole number from 1 to 100.' }).waitFor();
    assert.deepEqual(roiwatchCommands(from), []);
    await panel.locator('#f-sensitivity').fill('50');
    // A fraction of a second is an off delay the protocol takes: so does the panel.
    await panel.getByLabel(/^Off delay/).fill('2.5');
    await shot(page, 'panel-draw.png');
    const revision = await applied(panel.getByRole('button', { name: 'Save' }), 'roiwatch/region/save');
    const region = (await porch()).regions.find((r) => r.name === name);
    assert.ok(region, `region ${name} is not listed`);
    assert.equal(region.detect, 'person');
    assert.equal(region.off_delay, 2.5);
    assert.equal(region.sensitivity, 50);
    for (const [i, p] of SQUARE.entries()) {
      assert.ok(Math.hypot(region.points[i][0] - p[0], region.points[i][1] - p[1]) < 0.01, JSON.stringify(region.points));
    }
    regionId = region.id;
    // Its binary_sensor appears in HA and reports; the panel colours it by that state.
    await regionReports(name);
    const entityId = (await porch()).regions.find((r) => r.id === regionId).entity_id;
    assert.match(entityId, /^binary_sensor\./);
    const state = await panel.evaluate((el, id) => el.hass.states[id]?.state, entityId);
    assert.ok(['on', 'off'].includes(state), state);
    const polygon = panel.locator(`#svg polygon[data-id="${regionId}"]`);
    assert.ok(['on', 'off'].includes(await polygon.getAttribute('data-state')));
    assert.ok(revision >= 1);
  });

  await t.test('dragging a corner saves the moved point and applies the next revision', async () => {
    const was = (await porch()).revision;
    await panel.locator('#list button').filter({ hasText: name }).click();
    const corner = panel.getByRole('button', { name: 'Corner 3', exact: true });
    const from = await corner.boundingBox();
    const box = await panel.locator('#pic').boundingBox();
    await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + DRAGGED[0] * box.width, box.y + DRAGGED[1] * box.height, { steps: 8 });
    await page.mouse.up();
    await pictureShows();
    await shot(page, 'panel-edit.png');
    const revision = await applied(panel.getByRole('button', { name: 'Save' }), 'roiwatch/region/save');
    assert.ok(revision > was, `revision ${revision} after ${was}`);
    const region = (await porch()).regions.find((r) => r.id === regionId);
    const moved = region.points[2];
    assert.ok(Math.hypot(moved[0] - DRAGGED[0], moved[1] - DRAGGED[1]) < 0.01, JSON.stringify(region.points));
  });

  await t.test('a self-crossing polygon is refused with the message at the picture', async () => {
    const count = (await porch()).regions.length;
    await drawPolygon(BOWTIE);
    await panel.getByLabel('Name').fill(`${name} bowtie`);
    await panel.getByRole('button', { name: 'Save' }).click();
    await panel.locator('#err-points').filter({ hasText: /crosses or touches itself/ }).waitFor();
    // The text comes from the integration's translations, loaded into the frontend.
    const translated = await panel.evaluate((el) =>
      el.hass.localize('component.roiwatch.config_subentries.roi.error.points_self_intersect'),
    );
    assert.equal(await panel.locator('#err-points').textContent(), translated);
    assert.equal((await porch()).regions.length, count, 'nothing was added');
    // Nothing is lost: the corners and the name are still in the editor.
    assert.equal(await panel.locator('.h.corner').count(), BOWTIE.length);
    assert.equal(await panel.getByLabel('Name').inputValue(), `${name} bowtie`);
    await shot(page, 'panel-error.png');
    await panel.getByRole('button', { name: 'Cancel' }).click();
  });

  await t.test('the panel works at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    // Narrow: HA hides the sidebar and the panel's top bar has the menu button.
    await visible(panel.locator('header').locator('ha-menu-button, #menu')).waitFor();
    await panel.locator('#list button').filter({ hasText: name }).waitFor();
    await page.waitForTimeout(500); // the layout settles after the resize
    await pictureShows();
    await shot(page, 'panel-phone.png');
    await page.setViewportSize({ width: 1280, height: 1000 });
    await page.mouse.move(0, 0);
    await pictureShows();
    await shot(page, 'panel.png');
  });

  await t.test('deleting asks in the panel, then the region and its sensor go', async () => {
    const was = (await porch()).revision;
    await panel.locator('#list button').filter({ hasText: name }).click();
    await panel.getByRole('button', { name: 'Delete' }).click();
    const dialog = panel.getByRole('dialog');
    await dialog.getByText(name).waitFor();
    const revision = await applied(dialog.getByRole('button', { name: 'Delete' }), 'roiwatch/region/delete');
    assert.ok(revision > was);
    await panel.locator('#list button').filter({ hasText: name }).waitFor({ state: 'detached' });
    assert.equal((await porch()).regions.find((r) => r.id === regionId), undefined);
  });

  await t.test('a camera of Home Assistant (Garden, HA\'s MJPEG camera) gets a region the same way', async () => {
    await panel.getByLabel('Camera').selectOption({ label: HA_CAMERA });
    entryId = (await porch(HA_CAMERA)).entry_id;
    await regionReports('Lawn path'); // the demo's region: the analyzer detects on HA's pictures
    await pictureShows();
    await drawPolygon(SQUARE);
    const garden = `${name} garden`;
    await panel.getByLabel('Name').fill(garden);
    await applied(panel.getByRole('button', { name: 'Save' }), 'roiwatch/region/save');
    await regionReports(garden);
    const region = (await porch(HA_CAMERA)).regions.find((r) => r.name === garden);
    assert.ok(region && /^binary_sensor\./.test(region.entity_id), JSON.stringify(region));
    await shot(page, 'panel-ha-camera.png');
    await panel.locator('#list button').filter({ hasText: garden }).click();
    await panel.getByRole('button', { name: 'Delete' }).click();
    await applied(panel.getByRole('dialog').getByRole('button', { name: 'Delete' }), 'roiwatch/region/delete');
    await panel.locator('#list button').filter({ hasText: garden }).waitFor({ state: 'detached' });
  });

  await t.test('the panel subscribed once and unsubscribes when left', async () => {
    const subscriptions = sent.filter((m) => m.type === 'roiwatch/subscribe_cameras');
    assert.equal(subscriptions.length, 1, JSON.stringify(subscriptions));
    await visible(page.locator('ha-sidebar').getByText('Settings', { exact: true })).click();
    await page.waitForURL(/\/config/);
    const left = () => sent.some((m) => m.type === 'unsubscribe_events' && m.subscription === subscriptions[0].id);
    for (let i = 0; i < 100 && !left(); i++) await page.waitForTimeout(100);
    assert.ok(left(), 'the panel did not unsubscribe when left');
  });

  await t.test('no uncaught error in the page', async () => {
    const rejected = await page.evaluate(() => window.roiwatchRejections);
    assert.equal(
      pageErrors.length,
      0,
      `${pageErrors.length} errors, the first: ${pageErrors[0]}; rejected: ${rejected.join(', ')};` +
        ` failed commands: ${JSON.stringify(failed)}`,
    );
  });
});
