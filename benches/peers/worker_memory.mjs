// How much linear memory a model's Cloudflare Worker (`wasmodel build
// --target cloudflare`) holds after answering one infer: its instance, made
// and called the way worker.mjs does it, in Node (Workers count an isolate's
// memory against 128 MB, and the instance's linear memory is most of it).
//
//   node worker_memory.mjs WORKER_DIR MODEL_NAME REQUEST.json
//
// Prints {"memory_bytes": N, "status": S}.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, name, requestPath] = process.argv.slice(2);
if (!dir || !name || !requestPath) {
  console.error('usage: node worker_memory.mjs WORKER_DIR MODEL_NAME REQUEST.json');
  process.exit(2);
}
const componentDir = join(dir, 'component');
const modules = {};
for (const file of await readdir(componentDir)) {
  if (file.endsWith('.wasm')) modules[file] = await WebAssembly.compile(await readFile(join(componentDir, file)));
}
const { instantiate } = await import(pathToFileURL(join(componentDir, 'model.js')));
const { Exchange, imports } = await import(pathToFileURL(join(dir, 'wasi-http.mjs')));

const memories = [];
const component = await instantiate(
  (file) => modules[file],
  imports,
  async (module, moduleImports) => {
    const instance = await WebAssembly.instantiate(module, moduleImports);
    for (const value of Object.values(instance.exports)) {
      if (value instanceof WebAssembly.Memory) memories.push(value);
    }
    return instance;
  },
);
const request = new Request(`http://localhost/v2/models/${name}/infer`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: await readFile(requestPath),
});
const exchange = new Exchange(request, new Uint8Array(await request.arrayBuffer()));
component.incomingHandler.handle(exchange.request, exchange.outparam);
const answered = exchange.response();
if (!answered?.response) {
  console.error(`no answer: ${answered?.error}`);
  process.exit(1);
}
const memory = memories.reduce((sum, m) => sum + m.buffer.byteLength, 0);
console.log(JSON.stringify({ memory_bytes: memory, status: answered.response.status }));
