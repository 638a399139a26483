// Builds the browser example (examples/browser/) with the iris model and
// serves it on localhost:
//
//   node js/example.mjs [--port 8000] [--out target/browser-example]
//
// It runs `wasmodel build models/iris.onnx` (target/release/wasmodel, or
// $WASMODEL_BIN), transpiles the component with the pinned jco, and copies
// the page and js/src/index.mjs (as wasmodel.mjs) beside it. The browser
// test (js/test/browser.test.mjs) uses the same functions.

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

/** Writes the page, the library and the transpiled iris model into `dir`. */
export function prepare(dir) {
  mkdirSync(dir, { recursive: true });
  const page = join(REPO, 'examples', 'browser');
  for (const file of readdirSync(page)) copyFileSync(join(page, file), join(dir, file));
  copyFileSync(join(JS, 'src', 'index.mjs'), join(dir, 'wasmodel.mjs'));
  transpile('iris', dir);
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
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '8000' }, out: { type: 'string', default: join(REPO, 'target', 'browser-example') } },
  });
  console.error(`Building the example into ${values.out}...`);
  const server = await serve(prepare(values.out), Number(values.port));
  console.log(`Serving the iris example on http://127.0.0.1:${server.address().port}/ (Ctrl-C to stop)`);
}
