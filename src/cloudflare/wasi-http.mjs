// The part of the wasi:http/proxy world an HTTP model component (`wasmodel
// build --http`) imports, for one request in a Cloudflare Worker (or any
// JavaScript host that hands it a Fetch API `Request`).
//
// The component is the one `wasmodel serve`, Spin and `wasmtime serve` run,
// transpiled by jco; these classes are what its imports are bound to. The
// component reads the whole request body and writes the whole response
// before `handle` returns (it never waits on anything), so everything here
// is synchronous: the body is read before the call, and the response is
// put together from what the component wrote once the call has returned.
// Only what such a component can use is here; a call to anything else
// throws, naming it.

const textDecoder = new TextDecoder();

/** A pollable that is always ready: nothing here is ever waited for. */
class Pollable {
  ready() {
    return true;
  }
  block() {}
}

/** `wasi:io/error.error`. */
class IoError {
  #message;
  constructor(message) {
    this.#message = message;
  }
  toDebugString() {
    return this.#message;
  }
}

/** The bytes of a request body, read in chunks. */
class InputStream {
  #bytes;
  #at = 0;
  constructor(bytes) {
    this.#bytes = bytes;
  }
  read(len) {
    if (this.#at >= this.#bytes.length) throw { tag: 'closed' };
    const end = Math.min(this.#bytes.length, this.#at + Number(len));
    const chunk = this.#bytes.subarray(this.#at, end);
    this.#at = end;
    return chunk;
  }
  blockingRead(len) {
    return this.read(len);
  }
  skip(len) {
    return BigInt(this.read(len).length);
  }
  blockingSkip(len) {
    return this.skip(len);
  }
  subscribe() {
    return new Pollable();
  }
}

/** Where a response body (or stderr) is written: `sink` gets each chunk. */
class OutputStream {
  #sink;
  #closed = false;
  constructor(sink) {
    this.#sink = sink;
  }
  checkWrite() {
    if (this.#closed) throw { tag: 'closed' };
    return 1n << 20n;
  }
  write(contents) {
    if (this.#closed) throw { tag: 'closed' };
    // The component's memory is reused after the call: keep a copy.
    this.#sink(contents.slice());
  }
  blockingWriteAndFlush(contents) {
    this.write(contents);
  }
  flush() {}
  blockingFlush() {}
  writeZeroes(len) {
    this.write(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len) {
    this.writeZeroes(len);
  }
  subscribe() {
    return new Pollable();
  }
  close() {
    this.#closed = true;
  }
}

/** Header names a field may have (RFC 9110's token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `wasi:http/types.fields`: headers, as name and byte-string value pairs. */
class Fields {
  #entries = [];
  #immutable = false;
  static fromList(entries) {
    const fields = new Fields();
    for (const [name, value] of entries) fields.append(name, value);
    return fields;
  }
  /** Immutable fields of a Fetch API `Headers`. */
  static ofHeaders(headers) {
    const fields = new Fields();
    const encoder = new TextEncoder();
    for (const [name, value] of headers) fields.#entries.push([name, encoder.encode(value)]);
    fields.#immutable = true;
    return fields;
  }
  get(name) {
    const lower = name.toLowerCase();
    return this.#entries.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
  }
  has(name) {
    return this.get(name).length > 0;
  }
  set(name, values) {
    this.delete(name);
    for (const value of values) this.append(name, value);
  }
  delete(name) {
    if (this.#immutable) throw { tag: 'immutable' };
    const lower = name.toLowerCase();
    this.#entries = this.#entries.filter(([n]) => n.toLowerCase() !== lower);
  }
  append(name, value) {
    if (this.#immutable) throw { tag: 'immutable' };
    if (!TOKEN.test(name)) throw { tag: 'invalid-syntax' };
    this.#entries.push([name, value.slice()]);
  }
  entries() {
    return this.#entries.map(([n, v]) => [n, v]);
  }
  clone() {
    return Fields.fromList(this.#entries);
  }
  /** The entries as a Fetch API `Headers` (values that are not text left out). */
  toHeaders() {
    const headers = new Headers();
    for (const [name, value] of this.#entries) {
      try {
        headers.append(name, textDecoder.decode(value));
      } catch {
        // A value Fetch's Headers refuses cannot be sent from a Worker.
      }
    }
    return headers;
  }
  markImmutable() {
    this.#immutable = true;
  }
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

/** `wasi:http/types.incoming-request`: the Fetch API request and its body. */
class IncomingRequest {
  #request;
  #url;
  #body;
  constructor(request, body) {
    this.#request = request;
    this.#url = new URL(request.url);
    this.#body = body;
  }
  method() {
    const method = this.#request.method.toUpperCase();
    return METHODS.includes(method) ? { tag: method.toLowerCase() } : { tag: 'other', val: method };
  }
  pathWithQuery() {
    return this.#url.pathname + this.#url.search;
  }
  scheme() {
    const scheme = this.#url.protocol.replace(/:$/, '');
    if (scheme === 'http') return { tag: 'HTTP' };
    if (scheme === 'https') return { tag: 'HTTPS' };
    return { tag: 'other', val: scheme };
  }
  authority() {
    return this.#url.host;
  }
  headers() {
    return Fields.ofHeaders(this.#request.headers);
  }
  consume() {
    if (this.#body === null) throw undefined;
    const body = new IncomingBody(this.#body);
    this.#body = null;
    return body;
  }
}

/** `wasi:http/types.incoming-body`. */
class IncomingBody {
  #bytes;
  constructor(bytes) {
    this.#bytes = bytes;
  }
  stream() {
    if (this.#bytes === null) throw undefined;
    const stream = new InputStream(this.#bytes);
    this.#bytes = null;
    return stream;
  }
  static finish(_body) {
    return new FutureTrailers();
  }
}

/** `wasi:http/types.future-trailers`: a request here has none. */
class FutureTrailers {
  subscribe() {
    return new Pollable();
  }
  get() {
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

/** `wasi:http/types.outgoing-response`: status, headers and the body written. */
class OutgoingResponse {
  status = 200;
  headerFields;
  chunks = [];
  finished = false;
  #bodyTaken = false;
  constructor(headers) {
    this.headerFields = headers;
    headers.markImmutable();
  }
  statusCode() {
    return this.status;
  }
  setStatusCode(code) {
    if (code < 100 || code > 599) throw undefined;
    this.status = code;
  }
  headers() {
    return this.headerFields;
  }
  body() {
    if (this.#bodyTaken) throw undefined;
    this.#bodyTaken = true;
    return new OutgoingBody(this);
  }
}

/** `wasi:http/types.outgoing-body` of an `OutgoingResponse`. */
class OutgoingBody {
  #response;
  #written = false;
  constructor(response) {
    this.#response = response;
  }
  write() {
    if (this.#written) throw undefined;
    this.#written = true;
    return new OutputStream((chunk) => this.#response.chunks.push(chunk));
  }
  static finish(body, _trailers) {
    body.#response.finished = true;
  }
}

/** `wasi:http/types.response-outparam`: where the component's answer goes. */
class ResponseOutparam {
  /** The component's `result<outgoing-response, error-code>`, once set. */
  result;
  static set(param, result) {
    param.result = result;
  }
}

/** `wasi:cli/stderr`: lines the component writes (a panic's message) go to the console. */
const stderr = new OutputStream((chunk) => {
  const text = textDecoder.decode(chunk).trimEnd();
  if (text) console.error(text);
});

/** A WASI interface's function this host does not provide. */
function missing(name) {
  return () => {
    throw new Error(`${name} is not available to a model component in a Worker`);
  };
}

/** The interfaces, by name without version. */
const interfaces = {
  'wasi:cli/stderr': { getStderr: () => stderr },
  'wasi:io/error': { Error: IoError },
  'wasi:io/poll': { Pollable, poll: (list) => Uint32Array.from(list.keys()) },
  'wasi:io/streams': { InputStream, OutputStream },
  'wasi:http/types': {
    Fields,
    FutureTrailers,
    IncomingBody,
    IncomingRequest,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
    httpErrorCode: () => undefined,
    // What a model component has no business calling.
    OutgoingRequest: missing('wasi:http/types.outgoing-request'),
    RequestOptions: missing('wasi:http/types.request-options'),
    IncomingResponse: missing('wasi:http/types.incoming-response'),
    FutureIncomingResponse: missing('wasi:http/types.future-incoming-response'),
  },
};

/**
 * The component's imports as jco's `instantiate` takes them: by interface
 * and version (`wasi:http/types@0.2.6`), any 0.2 version. One set serves
 * every request.
 */
export const imports = new Proxy(interfaces, {
  get(target, key) {
    return typeof key === 'string' ? target[key.replace(/@0\.2\.\d+$/, '')] : undefined;
  },
});

/**
 * One request's exchange with the component: the `incoming-request` and
 * `response-outparam` to call `handle` with, and the Fetch API `Response`
 * made of what the component answered.
 */
export class Exchange {
  constructor(request, body) {
    this.request = new IncomingRequest(request, body);
    this.outparam = new ResponseOutparam();
  }

  /**
   * What the component answered: `{ response }` (a Fetch API `Response`),
   * `{ error }` (a message) if it answered with an error or did not finish
   * its answer, or null if it gave none.
   */
  response() {
    const result = this.outparam.result;
    if (result === undefined) return null;
    if (result.tag !== 'ok') {
      return { error: `the component answered with an error: ${JSON.stringify(result.val)}` };
    }
    const answer = result.val;
    if (!answer.finished) return { error: 'the component did not finish writing its answer' };
    const body = concat(answer.chunks);
    const noBody = [101, 204, 205, 304].includes(answer.status);
    return {
      response: new Response(noBody ? null : body, {
        status: answer.status,
        headers: answer.headerFields.toHeaders(),
      }),
    };
  }
}

function concat(chunks) {
  const length = chunks.reduce((sum, c) => sum + c.length, 0);
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}
