// The browser example in headless Chromium (Debian's, driven by the pinned
// playwright-core): the page loads the transpiled iris component, predicts
// from its form, and shows onnxruntime's label. Skipped, saying so, where
// no Chromium is installed (scripts/setup.sh --tests installs it).

import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { prepare, serve } from '../example.mjs';
import { fixture, moduleDir } from './support.mjs';

const executable = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
const skip = executable ? false : 'no Chromium (/usr/bin/chromium or $CHROMIUM): scripts/setup.sh --tests installs it';
let server;
let browser;
let dir;

before(async () => {
  if (skip) return;
  dir = moduleDir('wasmodel-browser-');
  server = await serve(prepare(dir), 0);
  browser = await chromium.launch({ executablePath: executable, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the page predicts iris in the browser, as onnxruntime does', { skip }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  const prediction = page.locator('#prediction[data-ready]');
  await prediction.waitFor({ timeout: 60_000 });
  assert.equal(await prediction.textContent(), 'setosa');

  // Each row of onnxruntime's reference, typed into the form.
  const species = ['setosa', 'versicolor', 'virginica'];
  const f = fixture('iris');
  const fields = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
  for (let row = 0; row < f.inputs.features.shape[0]; row++) {
    for (const [i, field] of fields.entries()) {
      await page.fill(`input[name=${field}]`, String(f.inputs.features.data[row * 4 + i]));
    }
    await page.click('button[type=submit]');
    assert.equal(await page.locator('#prediction').textContent(), species[f.outputs.label.data[row]], `row ${row}`);
  }
  assert.deepEqual(errors, []);
});
