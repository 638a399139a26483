// Builds a browser example and serves it on localhost:
//
//   node js/example.mjs [iris | similarity] [--port 8000] [--out DIR]
//                       [--model MODEL.onnx --tokenizer tokenizer.json]
//
// - iris (examples/browser/): a form that predicts iris's species, from
//   `wasmodel build models/iris.onnx`;
// - similarity (examples/similarity/): the cosine similarity of two texts'
//   embeddings, from `wasmodel build MODEL --tokenizer TOKENIZER --pooling
//   mean --normalize`. Without --model, the tiny random-weight BERT of the
//   tests (tests/fixtures/text_encoder/bert.onnx, with its tokenizer): its
//   numbers are onnxruntime's, its similarities mean nothing. A real
//   sentence encoder (all-MiniLM-L6-v2, which the tests' corpus fetches
//   into ~/.cache/wasmodel/corpus) gives real ones.
//
// It runs `wasmodel build` (target/release/wasmodel, or $WASMODEL_BIN),
// transpiles the component with the pinned jco, and copies the page and
// js/src/index.mjs (as wasmodel.mjs) beside it. The browser tests
// (js/test/browser.test.mjs) use the same functions.

import { copyFileSync, mkdirSync, readdirSync, createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

import { JS, REPO, transpile } from './test/support.mjs';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** The tests' tiny BERT and its tokenizer (models/text_encoder_cases.py). */
export const TINY_ENCODER = {
  model: 'tests/fixtures/text_encoder/bert.onnx',
  tokenizer: 'tests/fixtures/tokenizers/bert_uncased.json',
};

/**
 * Writes an example's page, the library and the transpiled model into
 * `dir`: `iris`, or `similarity` with `encoder` ({ model, tokenizer },
 * paths relative to the repository or absolute).
 */
export function prepare(dir, example = 'iris', encoder = TINY_ENCODER) {
  const pages = { iris: 'browser', similarity: 'similarity' };
  if (!pages[example]) throw new Error(`no example '${example}': iris or similarity`);
  mkdirSync(dir, { recursive: true });
  const page = join(REPO, 'examples', pages[example]);
  for (const file of readdirSync(page)) copyFileSync(join(page, file), join(dir, file));
  copyFileSync(join(JS, 'src', 'index.mjs'), join(dir, 'wasmodel.mjs'));
  if (example === 'iris') {
    transpile('iris', dir);
  } else {
    const flags = ['--tokenizer', resolve(REPO, encoder.tokenizer), '--pooling', 'mean', '--normalize'];
    transpile('encoder', dir, { model: encoder.model, flags });
  }
  return dir;
}

/** Serves `dir` on 127.0.0.1:`port` (0: any free port); resolves to the server once listening. */
export function serve(dir, port) {
  const root = resolve(dir);
  const server = createServer((request, response) => {
    const path = resolve(root, '.' + decodeURIComponent(new URL(request.url, 'http://x').pathname));
    const file = path === root ? join(root, 'index.html') : path;
    if (!(file === root || file.startsWith(root + sep)) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done(server)));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '8000' },
      out: { type: 'string', default: join(REPO, 'target', 'browser-example') },
      model: { type: 'string' },
      tokenizer: { type: 'string' },
    },
  });
  const example = positionals[0] ?? 'iris';
  if (Boolean(values.model) !== Boolean(values.tokenizer)) {
    console.error('--model and --tokenizer go together (a sentence encoder and its tokenizer.json)');
    process.exit(2);
  }
  const encoder = values.model ? { model: resolve(values.model), tokenizer: resolve(values.tokenizer) } : TINY_ENCODER;
  console.error(`Building the ${example} example into ${values.out}...`);
  const server = await serve(prepare(values.out, example, encoder), Number(values.port));
  console.log(`Serving the ${example} example on http://127.0.0.1:${server.address().port}/ (Ctrl-C to stop)`);
}
