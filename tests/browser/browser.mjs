// What the browser tests share: Debian's Chromium through playwright-core, nothing leaving this
// machine, logging in to the demo's Home Assistant like a person, screenshots.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

export const HA_URL = (process.env.HA_URL || '').replace(/\/$/, '');
export const USERNAME = process.env.HA_USERNAME || 'demo';
export const PASSWORD = process.env.HA_PASSWORD || 'demo-password-123';
export const SHOTS = process.env.ROIWATCH_SCREENSHOTS || path.resolve(import.meta.dirname, '../../docs/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const skip = HA_URL ? false : 'HA_URL is not set: run it with scripts/demo --check --browser';

/** A fresh Chromium profile; `close()` ends the browser and removes the profile. */
export async function launch(viewport = { width: 1280, height: 1000 }) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'roiwatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // Nothing leaves this machine: the frontend asks the internet for brand icons; refuse that.
  const origin = new URL(HA_URL).origin;
  await context.route(
    (url) => /^(https?|wss?):$/.test(url.protocol) && url.origin !== origin,
    (route) => route.abort(),
  );
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(60_000);
  return {
    context,
    page,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The first visible match (HA keeps hidden copies of menus and dialogs in the DOM). */
export function visible(locator) {
  return locator.filter({ visible: true }).first();
}

/** Log in on HA's login page, keeping the tokens across page loads. */
export async function login(page) {
  await page.goto(HA_URL);
  await page.getByRole('textbox', { name: 'Username' }).fill(USERNAME);
  await page.getByRole('textbox', { name: 'Password' }).fill(PASSWORD);
  // Keep the tokens across page loads (otherwise each page.goto would ask to log in again).
  await page.getByRole('checkbox', { name: /keep me logged in/i }).check();
  await page.keyboard.press('Enter');
  await visible(page.getByText('Settings', { exact: true })).waitFor();
}

/** A screenshot into docs/screenshots (or $ROIWATCH_SCREENSHOTS): of the page or of `locator`. */
export async function shot(page, name, locator) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await (locator || page).screenshot({ path: path.join(SHOTS, name) });
}
