// Real-browser test of RoiWatch in Home Assistant's own UI (Debian's Chromium, playwright-core).
//
// Run by `scripts/demo --check --browser`, which starts the demo (broker, Home Assistant, a smart
// and a dumb camera, the analyzer), sets everything up and passes the address and the login in
// HA_URL, HA_USERNAME and HA_PASSWORD. On its own: `cd tests/browser && HA_URL=... node --test`.
//
// It logs in like a person, checks the dashboard and the camera's device page (region entities,
// the "Last detection" picture), walks the "Add region" dialog of the Porch camera and waits
// for the new region's entity to appear and report a state. Screenshots go to docs/screenshots/
// (or $ROIWATCH_SCREENSHOTS).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { HA_URL, launch, login, shot as shotOf, skip, visible } from './browser.mjs';

const CAMERA = 'Porch';
const REGIONS = ['Driveway', 'Lawn'];
const NEW_REGION = { name: 'Crossing', points: '35,40 65,40 65,60 35,60', offDelay: '2' };

let browser;
let page;

const shot = (name) => shotOf(page, name);

/** Wait until an <img> has really loaded a picture. */
async function pictureLoaded(img) {
  await img.waitFor();
  const handle = await img.elementHandle();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, handle, { timeout: 60_000 });
  return handle.evaluate((el) => ({ width: el.naturalWidth, height: el.naturalHeight, src: el.src }));
}

/** The picture an entity row's badge shows (a thumbnail drawn as the badge's background). */
async function badgePicture(entityId) {
  const background = await page.waitForFunction(
    (id) => {
      const find = (root) => {
        for (const el of root.querySelectorAll('*')) {
          if (el.tagName === 'STATE-BADGE' && el.style.backgroundImage.includes(id)) return el.style.backgroundImage;
          const inner = el.shadowRoot && find(el.shadowRoot);
          if (inner) return inner;
        }
        return null;
      };
      return find(document);
    },
    entityId,
    { timeout: 60_000 },
  );
  const src = (await background.jsonValue()).match(/url\("?(.*?)"?\)/)[1];
  return page.evaluate(async (url) => {
    const img = new Image();
    img.src = url;
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  }, src);
}

async function openDevice(name) {
  await page.goto(`${HA_URL}/config/devices/dashboard`);
  await visible(page.getByText(name, { exact: true })).click();
  await page.waitForURL(/\/config\/devices\/device\//);
  await visible(page.getByText('Device info')).waitFor();
}

/** The device page's card that lists the region entities (binary sensors land in "Sensors"). */
function sensorsCard() {
  return visible(page.locator('ha-card').filter({ hasText: 'Sensors' }).filter({ hasText: REGIONS[0] }));
}

/** An entity row of a device page card (the text locators see through the shadow DOM). */
function entityRow(card, name) {
  return card.locator('hui-generic-entity-row').filter({ hasText: name });
}

/** Wait until a region's row says Clear or Detected (its detector runs), not Unavailable. */
async function regionReports(card, name, timeout = 60_000) {
  await visible(entityRow(card, name).filter({ hasText: /Clear|Detected/ })).waitFor({ timeout });
}

before(async () => {
  if (skip) return;
  browser = await launch();
  page = browser.page;
});

after(async () => {
  await browser?.close();
});

test('RoiWatch in the Home Assistant UI', { skip }, async (t) => {
  await t.test('log in as the demo user', async () => {
    await login(page);
    // The default dashboard: /lovelace up to 2026.7, the new overview (/home) since.
    assert.match(page.url(), /\/(lovelace|home)/);
  });

  await t.test('the dashboard shows both cameras, their regions and pictures', async () => {
    // The overview lists devices in no area (as the demo's cameras are) under "Devices".
    await page.goto(`${HA_URL}/home/other-devices`);
    for (const text of ['Porch', 'Gate', ...REGIONS, 'Path']) {
      await visible(page.getByText(text, { exact: true })).waitFor();
    }
    const porch = await badgePicture('image.porch_last_detection');
    const gate = await badgePicture('image.gate_last_detection');
    assert.equal(porch.width, 768, 'the smart camera sends full-size snapshots');
    assert.equal(gate.width, 640, 'the dumb camera sends 640-pixel frames');
    await shot('dashboard.png');
  });

  await t.test('the camera device page shows the region entities and the last detection', async () => {
    await openDevice(CAMERA);
    const card = sensorsCard();
    for (const text of [...REGIONS, 'Detected', 'Last detection']) {
      await visible(card.getByText(text, { exact: true })).waitFor();
    }
    for (const text of ['Detection', 'Configuration applied', 'Detection state']) {
      await visible(page.getByText(text, { exact: true })).waitFor();
    }
    // Region sensors report Clear/Detected, not Unavailable: the agent runs.
    for (const region of REGIONS) await regionReports(card, region);
    await visible(entityRow(page, 'Configuration applied').filter({ hasText: 'On' })).waitFor();
    await shot('device-page.png');

    await visible(card.getByText('Last detection', { exact: true })).click();
    // The more-info dialog shows the picture itself (ha-more-info-dialog has no box of its own).
    const img = visible(page.locator('ha-more-info-dialog img[src*="image.porch_last_detection"]'));
    const picture = await pictureLoaded(img);
    assert.equal(picture.width, 768);
    assert.equal(picture.height, 576);
    await shot('last-detection.png');
    await page.keyboard.press('Escape');
    await page.locator('ha-more-info-dialog img').first().waitFor({ state: 'hidden' });
  });

  await t.test('"Add region" adds a region whose entity appears', async () => {
    // A name the camera does not have yet (the test may run again against the same HA).
    let name = NEW_REGION.name;
    for (let n = 2; (await entityRow(sensorsCard(), name).count()) > 0; n++) name = `${NEW_REGION.name} ${n}`;

    await page.goto(`${HA_URL}/config/integrations/integration/roiwatch`);
    // "Add region" heads the integration's page and asks which camera.
    await visible(page.getByRole('button', { name: 'Add region' })).click();
    const camera = visible(page.locator('dialog-pick-config-entry').getByText(CAMERA, { exact: true }));
    await camera.waitFor();
    await page.waitForTimeout(500); // the dialog fades in
    await shot('add-region-menu.png');
    await camera.click();

    await visible(page.getByText('Add a region', { exact: true })).waitFor();
    await visible(page.getByRole('textbox', { name: /^Name/ })).fill(name);
    await visible(page.getByRole('radio', { name: 'Person' })).check();
    await visible(page.getByRole('textbox', { name: /^Points/ })).fill(NEW_REGION.points);
    const offDelay = visible(page.getByRole('spinbutton', { name: /^Off delay/ }));
    await offDelay.fill(NEW_REGION.offDelay);
    await shot('add-region-dialog.png');
    await visible(page.getByRole('button', { name: /submit/i })).click();
    // The flow ends with a "Success" step.
    await visible(page.getByRole('button', { name: /finish/i })).click();

    // The new region is listed under the camera's entry ...
    await visible(page.getByText(name, { exact: true })).waitFor();
    // ... and its entity appears on the device page and reports a state once the agent runs
    // the new configuration revision.
    await openDevice(CAMERA);
    const card = sensorsCard();
    await visible(card.getByText(name, { exact: true })).waitFor();
    await regionReports(card, name, 90_000);
    await visible(entityRow(page, 'Configuration applied').filter({ hasText: 'On' })).waitFor();
    await shot('new-region.png');
  });
});
