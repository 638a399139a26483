// A Cloudflare Worker that serves one model over the Open Inference
// Protocol v2, written by `wasmodel build MODEL.onnx --target cloudflare`.
//
// The model's HTTP component (the one `wasmodel serve` and Spin run,
// pre-initialized, answering every route itself) comes transpiled by jco in
// ./component/, its core modules imported as compiled `wasm` modules (so
// nothing is fetched or compiled at request time).
//
// One instance answers request after request, for as long as it works:
// Workers bill CPU time and allow an isolate 128 MB, and a fresh instance
// per request (as `wasmodel serve` and Spin make) would copy the model's
// whole memory image each time, and hold one image per request in flight.
// The handler is synchronous, so requests never interleave inside it; an
// instance that fails (a trap) is dropped, and the next request gets a
// fresh one, so a failure costs only the request that caused it. Around the
// component the Worker does what `wasmodel serve` does: the request body
// limit (413), and a 500 when the component fails without answering.

import { instantiate } from './component/model.js';
import { coreModules } from './component/modules.mjs';
import { Exchange, imports } from './wasi-http.mjs';

/** Largest request body taken, in bytes, as `wasmodel serve`'s default. */
const MAX_BODY = 64 << 20;

function errorResponse(status, message) {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

/** The 413 of every wasmodel server (wasmodel_oip::too_large_message). */
function tooLarge() {
  return errorResponse(413, `the request body is larger than this server's limit of ${MAX_BODY} bytes`);
}

function coreModule(name) {
  const module = coreModules[name];
  if (module === undefined) throw new Error(`the Worker has no core module ${name}`);
  return module;
}

/** The instance requests share, or null until one is needed. */
let instance = null;

export default {
  async fetch(request) {
    const declared = Number(request.headers.get('content-length') ?? 0);
    if (declared > MAX_BODY) return tooLarge();
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.length > MAX_BODY) return tooLarge();

    const exchange = new Exchange(request, body);
    try {
      instance ??= instantiate(coreModule, imports);
      const component = await instance;
      component.incomingHandler.handle(exchange.request, exchange.outparam);
    } catch (e) {
      // A trap (the engine panicked, or ran out of memory), or an instance
      // that could not be made: the next request starts afresh.
      instance = null;
      const answered = exchange.response();
      if (answered?.response) return answered.response;
      return errorResponse(500, `the model component failed: ${e?.message ?? e}`);
    }
    const answered = exchange.response();
    if (answered === null) return errorResponse(500, 'the component returned without answering');
    if (answered.error) return errorResponse(500, answered.error);
    return answered.response;
  },
};
