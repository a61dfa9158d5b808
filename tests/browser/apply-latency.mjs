// Time from "Save" in the region editor panel to "Applied" (the camera runs the new revision),
// in the real browser against a running demo: `HA_URL=http://127.0.0.1:8123 node apply-latency.mjs [N]`.
// Each round edits the Porch camera's region "Driveway" (its sensitivity, so every save is a new
// revision); with ROIWATCH_MODE=add each round draws a new region, saves it, then deletes it
// (both timed). Prints the median of N rounds (default 10). Not a test: a measurement for the
// README (the machine is shared and noisy; only the median means something).

import { launch, login, visible } from './browser.mjs';

const ROUNDS = Number(process.argv[2] || 10);
const REGION = process.env.ROIWATCH_REGION || 'Driveway';
const ADD = process.env.ROIWATCH_MODE === 'add';

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const m = sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  return `${m} ms (min ${sorted[0]}, max ${sorted.at(-1)})`;
}

const browser = await launch();
const { page } = browser;
const errors = [];
page.on('pageerror', (err) => errors.push(err));
try {
  await login(page);
  await visible(page.locator('ha-sidebar').getByText('RoiWatch', { exact: true })).click();
  const panel = page.locator('roiwatch-panel');
  await panel.getByLabel('Camera').selectOption({ label: 'Porch' });
  const status = panel.locator('#status');
  const timings = { save: [], delete: [] };
  /** Click `button` and wait for "Applied" with a new text (a new revision). */
  async function timed(kind, button) {
    const before = await status.textContent();
    const t0 = Date.now();
    await button.click();
    await page.waitForFunction(
      ([el, was]) => {
        const s = el.shadowRoot.getElementById('status');
        return s.dataset.state === 'applied' && s.textContent !== was;
      },
      [await panel.elementHandle(), before],
      { timeout: 120_000 },
    );
    timings[kind].push(Date.now() - t0);
    console.log(`${kind} ${timings[kind].length}: ${timings[kind].at(-1)} ms  (${await status.textContent()})`);
  }
  for (let i = 0; i < ROUNDS; i++) {
    if (ADD) {
      await panel.getByRole('button', { name: 'Add region' }).click();
      const box = await panel.locator('#pic').boundingBox();
      for (const [x, y] of [[0.3, 0.3], [0.5, 0.3], [0.5, 0.5], [0.3, 0.5]]) {
        await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
      }
      await panel.getByRole('button', { name: 'Close polygon' }).click();
      await panel.getByLabel('Name').fill(`Bench ${i + 1}`);
      await timed('save', panel.getByRole('button', { name: 'Save' }));
      await panel.locator('#list button').filter({ hasText: `Bench ${i + 1}` }).click();
      await panel.getByRole('button', { name: 'Delete' }).click();
      await timed('delete', panel.getByRole('dialog').getByRole('button', { name: 'Delete' }));
    } else {
      await panel.locator('#list button').filter({ hasText: REGION }).click();
      await panel.getByLabel('Sensitivity').fill(String(41 + (i % 2) + 2 * (i % 5)));
      await timed('save', panel.getByRole('button', { name: 'Save' }));
    }
  }
  for (const [kind, values] of Object.entries(timings)) {
    if (values.length) console.log(`${kind} -> Applied, median of ${values.length}: ${median(values)}`);
  }
} finally {
  for (const err of errors) console.log('pageerror:', err, err?.stack);
  await browser.close();
}
