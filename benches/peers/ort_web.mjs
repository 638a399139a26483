#!/usr/bin/env node
// Peer for the wasmodel benchmark: onnxruntime-web's WebAssembly build, run in Node.
//
//     (cd benches/peers && npm ci --ignore-scripts)     # once; scripts/setup.sh does it
//     node benches/peers/ort_web.mjs MODEL.onnx INPUTS.json --runs N --warmup W
//
// onnxruntime-web is pinned in package.json and package-lock.json. In Node,
// `import 'onnxruntime-web'` resolves (package.json "exports", condition "node")
// to dist/ort.node.min.mjs, which registers only the wasm backend and instantiates
// dist/ort-wasm-simd-threaded.wasm: the same SIMD WebAssembly build a browser
// runs, not onnxruntime-node's native library (which is not installed). Settings:
// execution provider 'wasm', ort.env.wasm.numThreads = 1 (no pthread workers),
// ort.env.wasm.proxy = false (no proxy worker), graph optimizations 'all',
// sequential execution.
//
// Command line, INPUTS.json and the JSON line on stdout are those of
// ort_native.py (see its docstring):
//     {"runtime": "onnxruntime-web 1.30.0 (wasm, SIMD, 1 thread)", "import_ms": ..,
//      "load_ms": .., "first_ms": .., "times_ms": [N floats],
//      "outputs": [{"name": .., "datatype": "FP32", "shape": [..], "data": [flat]}]}
// Each time is taken on its own with process.hrtime.bigint() (monotonic, ns).
// load_ms is InferenceSession.create from the model's bytes in memory to a ready
// session; for onnxruntime-web the first create also compiles and instantiates
// its ~14 MB wasm runtime, so that is inside load_ms. import_ms is the
// `import('onnxruntime-web')` before it. session.run is awaited inside each time.
//
// Errors: one line on stderr ("ort_web: error: ..."), exit code 1; an operator
// the wasm build lacks comes out as "unsupported operator NAME ...". Set
// WASMODEL_PEER_DEBUG=1 for the stack as well. stdout holds the JSON line only:
// console.log and friends go to stderr.

import { readFileSync } from 'node:fs';

const DEBUG = !!process.env.WASMODEL_PEER_DEBUG;
for (const level of ['log', 'info', 'debug', 'warn']) {
  console[level] = (...args) => console.error(...args);
}

class PeerError extends Error {}

const oneLine = (text) => String(text).split(/\s+/).filter(Boolean).join(' ');

function fail(error) {
  let message;
  if (error instanceof PeerError) {
    message = error.message;
  } else {
    message = oneLine(error && error.message !== undefined ? error.message : error);
  }
  process.stderr.write(`ort_web: error: ${message}\n`);
  if (DEBUG && error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// Open Inference Protocol datatype -> [onnxruntime-web tensor type, typed array, from JSON].
const num = (v) => {
  if (typeof v !== 'number' && typeof v !== 'boolean') throw new TypeError(`not a number: ${JSON.stringify(v)}`);
  return Number(v);
};
const big = (v) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`not an integer: ${JSON.stringify(v)}`);
  return BigInt(v);
};
const bool = (v) => (v === true || v === 1 ? 1 : v === false || v === 0 ? 0 : (() => {
  throw new TypeError(`not a boolean: ${JSON.stringify(v)}`);
})());
const DATATYPES = {
  FP32: ['float32', Float32Array, num],
  FP64: ['float64', Float64Array, num],
  INT8: ['int8', Int8Array, num],
  INT16: ['int16', Int16Array, num],
  INT32: ['int32', Int32Array, num],
  INT64: ['int64', BigInt64Array, big],
  UINT8: ['uint8', Uint8Array, num],
  UINT16: ['uint16', Uint16Array, num],
  UINT32: ['uint32', Uint32Array, num],
  UINT64: ['uint64', BigUint64Array, big],
  BOOL: ['bool', Uint8Array, bool],
};
const TYPE_TO_DATATYPE = Object.fromEntries(Object.entries(DATATYPES).map(([k, [t]]) => [t, k]));

function parseArgs(argv) {
  const usage = 'usage: node ort_web.mjs MODEL.onnx INPUTS.json [--runs N] [--warmup W]';
  const positional = [];
  const opts = { runs: 100, warmup: 10 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--(runs|warmup)(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[2] !== undefined ? m[2] : argv[++i];
      if (value === undefined || !/^\d+$/.test(value)) {
        throw new PeerError(`--${m[1]} needs a whole number, got ${JSON.stringify(value)} (${usage})`);
      }
      opts[m[1]] = Number(value);
    } else if (arg.startsWith('--')) {
      throw new PeerError(`unknown option ${arg} (${usage})`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) throw new PeerError(`expected MODEL.onnx and INPUTS.json (${usage})`);
  [opts.model, opts.inputs] = positional;
  return opts;
}

function readInputs(ort, path, session) {
  let body;
  try {
    body = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new PeerError(`cannot read ${path}: ${oneLine(e.message)}`);
  }
  if (!body || typeof body !== 'object' || !Array.isArray(body.inputs)) {
    throw new PeerError(`${path}: expected {"inputs": [...]}`);
  }
  const expected = new Map();
  const metadata = session.inputMetadata || [];
  session.inputNames.forEach((name, i) => expected.set(name, metadata[i]));
  const feeds = {};
  for (const tensor of body.inputs) {
    const { name, datatype, shape, data } = tensor || {};
    if (typeof name !== 'string' || typeof datatype !== 'string' || !Array.isArray(shape) || !Array.isArray(data)) {
      throw new PeerError(`${path}: every input needs name, datatype, shape and data`);
    }
    if (!expected.has(name)) {
      throw new PeerError(`${path}: the model has no input "${name}" (it has ${JSON.stringify([...expected.keys()].sort())})`);
    }
    const spec = DATATYPES[datatype];
    if (!spec) throw new PeerError(`${path}: input "${name}": unsupported datatype "${datatype}"`);
    const [type, TypedArray, convert] = spec;
    const meta = expected.get(name);
    if (meta && meta.isTensor && meta.type !== type) {
      throw new PeerError(`${path}: input "${name}" is ${datatype} but the model wants ${meta.type}`);
    }
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new PeerError(`${path}: input "${name}": bad shape ${JSON.stringify(shape)}`);
    }
    if (shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new PeerError(`${path}: input "${name}": shape ${JSON.stringify(shape)} does not match ${data.length} data`);
    }
    let values;
    try {
      values = TypedArray.from(data, convert);
    } catch (e) {
      throw new PeerError(`${path}: input "${name}": ${oneLine(e.message)}`);
    }
    feeds[name] = new ort.Tensor(type, values, shape);
  }
  const missing = [...expected.keys()].filter((n) => !(n in feeds)).sort();
  if (missing.length) throw new PeerError(`${path}: missing model input(s) ${JSON.stringify(missing)}`);
  return feeds;
}

// One output as JSON text: int64 data stay exact, BOOL data become true/false,
// non-finite floats null (JSON.stringify's own rule).
function outputJson(name, tensor) {
  const datatype = TYPE_TO_DATATYPE[tensor.type] || tensor.type.toUpperCase();
  let data;
  if (tensor.type === 'bool') {
    data = `[${Array.from(tensor.data, (v) => (v ? 'true' : 'false')).join(',')}]`;
  } else if (tensor.type === 'int64' || tensor.type === 'uint64') {
    data = `[${Array.from(tensor.data, String).join(',')}]`;
  } else {
    data = JSON.stringify(Array.from(tensor.data));
  }
  return `{"name":${JSON.stringify(name)},"datatype":${JSON.stringify(datatype)},"shape":${JSON.stringify(tensor.dims)},"data":${data}}`;
}

// onnxruntime-web's errors carry the native message; name the operator if it lacks one.
function explain(what, e, version) {
  const message = oneLine(e && e.message !== undefined ? e.message : e);
  const op = /implementation for (\S+?)\((\d+)\) node with name '([^']*)'/.exec(message);
  if (op) {
    return new PeerError(`onnxruntime-web ${version} cannot ${what}: unsupported operator ${op[1]} (opset ${op[2]}, node '${op[3]}'): ${message}`);
  }
  const unknown = /(\S+?)\((-?\d+)\) is not a registered function\/op/.exec(message);
  if (unknown) {
    return new PeerError(`onnxruntime-web ${version} cannot ${what}: unsupported operator ${unknown[1]}: ${message}`);
  }
  return new PeerError(`onnxruntime-web ${version} cannot ${what}: ${message}`);
}

const ms = (ns) => Number(ns) / 1e6;

async function main() {
  const args = parseArgs(process.argv.slice(2));

  let modelBytes;
  try {
    const buffer = readFileSync(args.model);
    modelBytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  } catch (e) {
    throw new PeerError(`cannot read ${args.model}: ${oneLine(e.message)}`);
  }

  let t = process.hrtime.bigint();
  const ort = await import('onnxruntime-web');
  const importNs = process.hrtime.bigint() - t;
  const version = ort.env.versions.web;
  if (!version) throw new PeerError('the onnxruntime-web module found is not onnxruntime-web');
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;

  let session;
  t = process.hrtime.bigint();
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      logSeverityLevel: 3,
    });
  } catch (e) {
    throw explain(`load ${args.model}`, e, version);
  }
  const loadNs = process.hrtime.bigint() - t;

  const feeds = readInputs(ort, args.inputs, session);
  // Every tensor output, in the model's order; non-tensor ones (ZipMap's
  // sequences of maps) are not fetched.
  const outputMeta = session.outputMetadata || [];
  const fetches = session.outputNames.filter((_, i) => !outputMeta[i] || outputMeta[i].isTensor !== false);
  const run = fetches.length === session.outputNames.length
    ? () => session.run(feeds)
    : () => session.run(feeds, fetches);

  let results;
  const times = [];
  let firstNs;
  try {
    t = process.hrtime.bigint();
    results = await run();
    firstNs = process.hrtime.bigint() - t;
    for (let i = 0; i < args.warmup; i++) results = await run();
    for (let i = 0; i < args.runs; i++) {
      t = process.hrtime.bigint();
      results = await run();
      times.push(process.hrtime.bigint() - t);
    }
  } catch (e) {
    throw explain(`run ${args.model}`, e, version);
  }

  const outputs = fetches.map((name) => outputJson(name, results[name]));
  const head = JSON.stringify({
    runtime: `onnxruntime-web ${version} (wasm, SIMD, 1 thread)`,
    import_ms: ms(importNs),
    load_ms: ms(loadNs),
    first_ms: ms(firstNs),
    times_ms: times.map(ms),
  });
  const line = `${head.slice(0, -1)},"outputs":[${outputs.join(',')}]}\n`;
  process.stdout.write(line, () => process.exit(0));
}

main().catch(fail);
