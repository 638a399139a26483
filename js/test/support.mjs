// Shared by the Node and browser tests: model components built by the
// `wasmodel` binary and transpiled by the pinned jco, and onnxruntime's
// reference outputs from tests/fixtures/.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const JS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(JS, '..');

/** Model name → ONNX file under models/. */
export const MODELS = {
  iris: 'iris.onnx',
  multi_io: 'multi_io.onnx',
  dtypes: 'dtypes.onnx',
  digits_cnn: 'digits_cnn.onnx',
  logreg_string_labels: 'zoo/logreg_string_labels.onnx',
};

export function wasmodelBin() {
  const bin = process.env.WASMODEL_BIN ?? join(REPO, 'target', 'release', 'wasmodel');
  if (!existsSync(bin)) throw new Error(`no wasmodel binary at ${bin}: run cargo build --release or set WASMODEL_BIN`);
  return bin;
}

/** A fresh directory whose .js files are ES modules (as jco writes them). */
export function moduleDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  return dir;
}

/**
 * Builds NAME's component into DIR and transpiles it with jco to DIR/AS/AS.js
 * (AS is NAME unless given); `relaxedSimd` builds with `--relaxed-simd`.
 * `model` (an ONNX file, relative to the repository or absolute) and
 * `flags` build another model than MODELS has, with more `wasmodel build`
 * flags.
 */
export function transpile(name, dir, { relaxedSimd = false, as = name, model = join('models', MODELS[name]), flags = [] } = {}) {
  const wasm = join(dir, `${as}.wasm`);
  const build = ['build', resolve(REPO, model), '-o', wasm, ...flags, ...(relaxedSimd ? ['--relaxed-simd'] : [])];
  execFileSync(wasmodelBin(), build, { stdio: 'ignore' });
  execFileSync(join(JS, 'node_modules', '.bin', 'jco'), ['transpile', wasm, '-o', join(dir, as), '--name', as], {
    stdio: 'ignore',
  });
  return join(dir, as, `${as}.js`);
}

/** The inputs onnxruntime was given and its outputs, as { name: { shape, data } }. */
export function fixture(name) {
  let path = join(REPO, 'tests', 'fixtures', `${name}.json`);
  if (!existsSync(path)) path = join(REPO, 'tests', 'fixtures', 'zoo', `${name}.json`);
  const f = JSON.parse(readFileSync(path, 'utf8'));
  const tensors = (ts) =>
    Object.fromEntries(
      Object.entries(ts).map(([n, t]) => [
        n,
        { shape: t.shape, dtype: t.dtype, data: t.data.map((x) => (typeof x === 'string' && t.dtype !== 'string' ? Number(x) : x)) },
      ]),
    );
  return { inputs: tensors(f.inputs), outputs: tensors(f.outputs), tolerance: f.tolerance };
}

/** Throws unless `got` (Model.predict's) matches `expected` (a fixture's outputs). */
export function assertMatches(got, expected, { rtol, atol }) {
  const names = Object.keys(got).join(',');
  if (names !== Object.keys(expected).join(',')) throw new Error(`outputs ${names}, expected ${Object.keys(expected)}`);
  for (const [name, want] of Object.entries(expected)) {
    const have = got[name];
    if (have.shape.join(',') !== want.shape.join(',')) throw new Error(`${name}: shape ${have.shape}, expected ${want.shape}`);
    const values = Array.from(have.data, (x) => (typeof x === 'bigint' ? Number(x) : x));
    const exact = !['f32', 'f64'].includes(want.dtype);
    values.forEach((v, i) => {
      const w = want.data[i];
      const ok = exact
        ? v === w || (typeof v === 'boolean' && Number(v) === w)
        : (Number.isNaN(v) && Number.isNaN(w)) || Math.abs(v - w) <= atol + rtol * Math.abs(w);
      if (!ok) throw new Error(`${name}[${i}]: ${v}, expected ${w}`);
    });
  }
}
