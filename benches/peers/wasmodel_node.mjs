#!/usr/bin/env node
// Peer for the wasmodel benchmark: the same model component in Node, through jco.
//
//     node benches/peers/wasmodel_node.mjs COMPONENT.wasm INPUTS.json --runs N --warmup W
//
// Transpiles the component with the jco pinned in js/package-lock.json
// (`npm ci` in js/; scripts/setup.sh --tests does it) into a temporary
// directory, imports it, and times `Model.predict` of js/src/index.mjs
// (typed arrays in and out). INPUTS.json and the JSON line on stdout are
// those of ort_native.py; load_ms is the transpile plus the import (V8
// compiles the core wasm there). Errors: one line on stderr, exit code 1.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const JS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'js');
for (const level of ['log', 'info', 'debug', 'warn']) console[level] = (...args) => console.error(...args);

const ELEMENTS = { FP32: 'f32', FP64: 'f64', INT32: 'i32', INT64: 'i64', UINT8: 'u8', BOOL: 'bool' };
const DATATYPES = { f32: 'FP32', f64: 'FP64', i32: 'INT32', i64: 'INT64', u8: 'UINT8', bool: 'BOOL' };

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { runs: { type: 'string', default: '100' }, warmup: { type: 'string', default: '10' } },
  });
  const [component, inputsPath] = positionals;
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const { Model } = await import(pathToFileURL(join(JS, 'src', 'index.mjs')).href);

  const dir = mkdtempSync(join(tmpdir(), 'wasmodel-node-peer-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
    let t = process.hrtime.bigint();
    execFileSync(join(JS, 'node_modules', '.bin', 'jco'), ['transpile', component, '-o', join(dir, 'model'), '--name', 'model'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const { predictor } = await import(pathToFileURL(join(dir, 'model', 'model.js')).href);
    const model = new Model(predictor);
    const loadNs = process.hrtime.bigint() - t;

    const body = JSON.parse(readFileSync(inputsPath, 'utf8'));
    const inputs = Object.fromEntries(
      body.inputs.map((i) => {
        const element = ELEMENTS[i.datatype];
        if (!element) throw new Error(`unsupported datatype ${i.datatype}`);
        return [i.name, { shape: i.shape, data: element === 'bool' ? i.data.map(Boolean) : i.data }];
      }),
    );
    // Convert once, as a caller with typed arrays would hold them.
    for (const t of model.info.inputs) {
      const typed = { f32: Float32Array, f64: Float64Array, i32: Int32Array, u8: Uint8Array }[t.elementType];
      if (typed && inputs[t.name]) inputs[t.name].data = typed.from(inputs[t.name].data);
      if (t.elementType === 'i64' && inputs[t.name]) inputs[t.name].data = BigInt64Array.from(inputs[t.name].data, BigInt);
    }

    t = process.hrtime.bigint();
    let outputs = model.predict(inputs);
    const firstNs = process.hrtime.bigint() - t;
    for (let i = 0; i < warmup; i++) model.predict(inputs);
    const times = [];
    for (let i = 0; i < runs; i++) {
      t = process.hrtime.bigint();
      outputs = model.predict(inputs);
      times.push(process.hrtime.bigint() - t);
    }
    const ms = (ns) => Number(ns) / 1e6;
    return {
      runtime: `Node ${process.version}, jco ${JSON.parse(readFileSync(join(JS, 'node_modules', '@bytecodealliance', 'jco', 'package.json'))).version}`,
      load_ms: ms(loadNs),
      first_ms: ms(firstNs),
      times_ms: times.map(ms),
      outputs: Object.entries(outputs).map(([name, o]) => ({
        name,
        datatype: DATATYPES[o.elementType] ?? 'BYTES',
        shape: o.shape,
        data: Array.from(o.data, (x) => (typeof x === 'bigint' ? Number(x) : Number.isFinite(x) ? x : typeof x === 'boolean' ? x : null)),
      })),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0)),
  (error) => {
    process.stderr.write(`wasmodel_node: error: ${String(error?.message ?? error).split(/\s+/).join(' ')}\n`);
    process.exit(1);
  },
);
