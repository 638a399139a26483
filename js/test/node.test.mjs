// The same components in Node, through jco: onnxruntime's numbers, checked
// inputs, typed errors, and the README's example as written.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import { Model, PredictError } from '../src/index.mjs';
import { JS, MODELS, REPO, assertMatches, fixture, moduleDir, transpile } from './support.mjs';

const dir = moduleDir('wasmodel-node-');
const models = {};

after(() => rmSync(dir, { recursive: true, force: true }));

before(async () => {
  for (const name of Object.keys(MODELS)) {
    const { predictor } = await import(pathToFileURL(transpile(name, dir)).href);
    models[name] = new Model(predictor);
  }
});

describe('onnxruntime reference outputs', () => {
  for (const name of Object.keys(MODELS)) {
    test(name, () => {
      const f = fixture(name);
      assertMatches(models[name].predict(f.inputs), f.outputs, f.tolerance);
    });
  }
});

test('metadata with class labels', () => {
  const info = models.iris.info;
  assert.equal(info.name, 'iris');
  assert.deepEqual(info.inputs, [{ name: 'features', elementType: 'f32', shape: ['batch', 4], classLabels: undefined }]);
  assert.deepEqual(info.outputs[1].classLabels, [0, 1, 2]);
  assert.ok(models.logreg_string_labels.info.outputs[1].classLabels.every((l) => typeof l === 'string'));
});

test('a typed array of the wrong type is refused, not reinterpreted', () => {
  const features = { shape: [1, 4], data: new Float64Array([5.1, 3.5, 1.4, 0.2]) };
  assert.throws(
    () => models.iris.predict({ features }),
    (e) => e instanceof PredictError && e.inputKind === 'element-type' && e.expected === 'f32' && e.got === 'Float64Array',
  );
});

test('plain arrays take the declared type, i64 included', () => {
  const out = models.multi_io.predict({
    numeric: { shape: [1, 5], data: [0.1, 0.2, 0.3, 0.4, 0.5] },
    category: { shape: [1], data: [2] },
  });
  assert.ok(out.score.data instanceof Float32Array);
});

test("the component's own input errors come back typed", () => {
  assert.throws(
    () => models.iris.predict({ features: { shape: [1, 5], data: new Float32Array(5) } }),
    (e) => e instanceof PredictError && e.kind === 'invalid-input' && e.inputKind === 'shape' && e.input === 'features',
  );
  assert.throws(
    () => models.iris.predict({}),
    (e) => e instanceof PredictError && e.inputKind === 'missing',
  );
  // The instance still answers.
  assert.equal(models.iris.predict({ features: { shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] } }).label.data[0], 0n);
});

test('a text encoder built with its tokenizer takes strings, and answers as onnxruntime', async () => {
  // The tiny BERT of models/text_encoder_cases.py: its texts (accents, CJK,
  // emoji, control characters, an empty string, one over the truncation)
  // and sentence-transformers' mean pooling, normalized, of onnxruntime's
  // outputs for the `tokenizers` package's ids.
  const c = JSON.parse(readFileSync(join(REPO, 'tests', 'fixtures', 'text_encoder', 'bert.json'), 'utf8'));
  const flags = ['--tokenizer', join(REPO, c.tokenizer), '--pooling', 'mean', '--normalize'];
  const { predictor } = await import(pathToFileURL(transpile('bert', dir, { model: c.model, flags })).href);
  const model = new Model(predictor);
  assert.deepEqual(model.info.inputs, [{ name: 'text', elementType: 'string', shape: ['batch_size'], classLabels: undefined }]);
  for (const call of c.calls) {
    const text = call.inputs.text;
    const want = call.pooled['mean normalize'];
    assertMatches(
      model.predict({ text: { shape: text.shape, data: text.data } }),
      { sentence_embedding: { shape: want.shape, dtype: 'f32', data: want.data } },
      c.tolerance,
    );
  }
  assert.throws(
    () => model.predict({ text: { shape: [1], data: [7] } }),
    (e) => e instanceof PredictError && e.inputKind === 'element-type' && e.input === 'text' && e.expected === 'string',
  );
});

test("the README's example", () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.indexOf('### From Node and the browser');
  const start = readme.indexOf('```js\n', section) + '```js\n'.length;
  const example = readme.slice(start, readme.indexOf('```', start));
  // The example imports the library as `wasmodel` and the model as ./iris/iris.js.
  const script = join(dir, 'readme-example.mjs');
  writeFileSync(script, example.replace("from 'wasmodel'", `from '${pathToFileURL(join(JS, 'src', 'index.mjs'))}'`));
  const printed = execFileSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });
  assert.match(printed, /setosa/);
});

test('a --relaxed-simd component runs where Node has relaxed SIMD, and only there', () => {
  const module = transpile('digits_cnn', dir, { relaxedSimd: true, as: 'digits_cnn_relaxed' });
  const script = join(dir, 'relaxed-simd.mjs');
  writeFileSync(
    script,
    `import { Model } from '${pathToFileURL(join(JS, 'src', 'index.mjs'))}';
import { assertMatches, fixture } from '${pathToFileURL(join(JS, 'test', 'support.mjs'))}';
const { predictor } = await import('${pathToFileURL(module)}');
const f = fixture('digits_cnn');
assertMatches(new Model(predictor).predict(f.inputs), f.outputs, f.tolerance);
console.log('matched onnxruntime');
`,
  );
  const run = (flags) => spawnSync(process.execPath, [...flags, script], { cwd: dir, encoding: 'utf8' });
  let ran = run([]);
  if (ran.status !== 0) {
    // Node 20's V8 has relaxed SIMD behind a flag: the module is refused
    // when compiled, saying so.
    assert.match(ran.stderr, /CompileError[^\n]*simd opcode not available/, ran.stderr);
    ran = run(['--experimental-wasm-relaxed-simd']);
  }
  assert.equal(ran.status, 0, ran.stderr);
  assert.match(ran.stdout, /matched onnxruntime/);
});
