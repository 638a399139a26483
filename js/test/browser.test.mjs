// The browser examples in headless Chromium (Debian's, driven by the pinned
// playwright-core): the iris page loads the transpiled iris component,
// predicts from its form, and shows onnxruntime's label; the similarity page
// embeds two texts with the tiny BERT and its tokenizer in one component and
// shows the cosine of onnxruntime's embeddings. Skipped, saying so, where no
// Chromium is installed (scripts/setup.sh --tests installs it).

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { prepare, serve } from '../example.mjs';
import { REPO, fixture, moduleDir } from './support.mjs';

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

/**
 * A new page of the example `served` serves, once its element `ready` has
 * its first answer (the model loaded); with the page's uncaught errors.
 */
async function open(served, ready) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${served.address().port}/`);
  const shown = page.locator(`${ready}[data-ready]`);
  await shown.waitFor({ timeout: 60_000 });
  return { page, errors, first: await shown.textContent() };
}

test('the page predicts iris in the browser, as onnxruntime does', { skip }, async () => {
  const { page, errors, first } = await open(server, '#prediction');
  assert.equal(first, 'setosa');

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

/** The cosine of rows `i` and `j` of a [rows, width] tensor of a fixture. */
function cosine({ shape, data }, i, j) {
  const width = shape[1];
  const row = (r) => data.slice(r * width, (r + 1) * width);
  const [a, b] = [row(i), row(j)];
  const dot = (x, y) => x.reduce((sum, v, k) => sum + v * y[k], 0);
  return dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
}

test("the similarity page compares two texts in the browser, as onnxruntime's embeddings do", { skip }, async () => {
  const similarityDir = moduleDir('wasmodel-similarity-');
  const similarityServer = await serve(prepare(similarityDir, 'similarity'), 0);
  try {
    const { page, errors, first } = await open(similarityServer, '#similarity');
    assert.match(first, /^-?[01]\.\d{4}$/);

    // Pairs of the texts onnxruntime embedded (tests/fixtures/text_encoder/
    // bert.json): accents against shouting, CJK against emoji, and a text
    // longer than the truncation against a short one.
    const c = JSON.parse(readFileSync(join(REPO, 'tests', 'fixtures', 'text_encoder', 'bert.json'), 'utf8'));
    const pairs = [
      [0, 4, 5],
      [0, 6, 7],
      [1, 0, 1],
    ];
    for (const [call, i, j] of pairs) {
      const { text } = c.calls[call].inputs;
      await page.fill('textarea[name=first]', text.data[i]);
      await page.fill('textarea[name=second]', text.data[j]);
      await page.click('button[type=submit]');
      const shown = Number(await page.locator('#similarity').textContent());
      const expected = cosine(c.calls[call].pooled['mean normalize'], i, j);
      assert.ok(Math.abs(shown - expected) <= 2e-4, `texts ${i} and ${j} of call ${call}: shown ${shown}, expected ${expected}`);
    }
    assert.deepEqual(errors, []);
  } finally {
    similarityServer.close();
    rmSync(similarityDir, { recursive: true, force: true });
  }
});
