// Run a wasmodel model component in Node or a browser, once jco has
// transpiled it to an ES module:
//
//   npx jco transpile iris.wasm -o iris/          (node_modules/.bin/jco here)
//
//   import { predictor } from './iris/iris.js';
//   import { Model } from 'wasmodel';             (this file)
//   const model = new Model(predictor);
//   const out = model.predict({ features: { shape: [1, 4], data: new Float32Array([5.1, 3.5, 1.4, 0.2]) } });
//   out.label.data, out.probabilities.data, model.info.outputs[1].classLabels
//
// jco's bindings take typed arrays as they are: a Float64Array given for a
// list<f32> is copied byte for byte, unchecked, and the model would see
// garbage. `Model.predict` checks every typed array against the declared
// element type first, converts plain arrays to it, and turns the
// component's `predict-error` (thrown by jco as a ComponentError) into a
// typed `PredictError`.

/** The typed array each WIT element type is passed as (bool and string: plain arrays). */
const TYPED_ARRAYS = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  i64: BigInt64Array,
  u8: Uint8Array,
};

/** Why `predict` gave no outputs: `kind` is `invalid-input` (then `input`,
 * `expected`, `got` and `inputKind` say which input and what was wrong), `unsupported`
 * or `internal`. */
export class PredictError extends Error {
  constructor(kind, message, details = {}) {
    super(message);
    this.name = 'PredictError';
    this.kind = kind;
    Object.assign(this, details);
  }
}

function invalidInput(inputKind, input, expected, got) {
  return new PredictError('invalid-input', `input '${input}': ${inputKind}: expected ${expected}, got ${got}`, {
    inputKind,
    input,
    expected,
    got,
  });
}

function labelsOf(classLabels) {
  if (!classLabels) return undefined;
  // i64 labels come as a BigInt64Array: as numbers, they are class indices.
  return Array.from(classLabels.val, (l) => (typeof l === 'bigint' ? Number(l) : l));
}

function tensorInfo(t) {
  return {
    name: t.name,
    elementType: t.elementType,
    shape: t.shape.map((d) => d.val),
    classLabels: labelsOf(t.classLabels),
  };
}

/** The element type a typed or plain array stands for, for an input the model does not declare. */
function elementOf(data) {
  for (const [element, Typed] of Object.entries(TYPED_ARRAYS)) {
    if (data instanceof Typed) return element;
  }
  if (Array.isArray(data) && typeof data[0] === 'string') return 'string';
  if (Array.isArray(data) && typeof data[0] === 'boolean') return 'bool';
  return 'f32';
}

function lower(name, tensor, declared) {
  if (tensor === null || typeof tensor !== 'object' || !('data' in tensor) || !('shape' in tensor)) {
    throw new TypeError(`input '${name}': expected { shape: [...], data: [...] }`);
  }
  const element = declared ? declared.elementType : elementOf(tensor.data);
  const Typed = TYPED_ARRAYS[element];
  let data = tensor.data;
  if (Typed) {
    if (ArrayBuffer.isView(data)) {
      if (!(data instanceof Typed)) throw invalidInput('element-type', name, element, data.constructor.name);
    } else if (Array.isArray(data)) {
      try {
        data = element === 'i64' ? BigInt64Array.from(data, (x) => BigInt(x)) : Typed.from(data);
      } catch (e) {
        throw invalidInput('element-type', name, element, String(e.message ?? e));
      }
    } else {
      throw invalidInput('element-type', name, element, typeof data);
    }
  } else if (element === 'bool') {
    data = Array.from(data, Boolean);
  } else {
    data = Array.from(data, (s) => {
      if (typeof s !== 'string') throw invalidInput('element-type', name, 'string', typeof s);
      return s;
    });
  }
  const shape = Uint32Array.from(tensor.shape);
  return { name, shape, data: { tag: element, val: data } };
}

/** A transpiled model component, with checked inputs and typed errors. */
export class Model {
  /** @param predictor the `predictor` export of the module jco made. */
  constructor(predictor) {
    this.predictor = predictor;
    const info = predictor.metadata();
    /** name, version, digest, producer, inputs and outputs (name, elementType, shape, classLabels). */
    this.info = {
      name: info.name,
      version: info.version,
      digest: info.digest,
      producer: info.producer,
      inputs: info.inputs.map(tensorInfo),
      outputs: info.outputs.map(tensorInfo),
    };
    this.declared = new Map(this.info.inputs.map((t) => [t.name, t]));
  }

  /**
   * Runs the model. `inputs` maps each input's name to `{ shape, data }`,
   * data a typed array of the declared type (Float32Array for f32,
   * BigInt64Array for i64, ...), or a plain array (converted to it);
   * booleans and strings as plain arrays. Returns `{ name: { shape, data } }`
   * in the model's output order. Throws `PredictError`.
   */
  predict(inputs) {
    const tensors = Object.entries(inputs).map(([name, tensor]) => lower(name, tensor, this.declared.get(name)));
    let outputs;
    try {
      outputs = this.predictor.predict(tensors);
    } catch (e) {
      const payload = e?.payload;
      if (payload?.tag === 'invalid-input') {
        const { kind, input, expected, got } = payload.val;
        throw invalidInput(kind, input, expected, got);
      }
      if (payload?.tag === 'unsupported' || payload?.tag === 'internal') {
        throw new PredictError(payload.tag, `${payload.tag}: ${payload.val}`);
      }
      throw e; // a trap: the instance is no longer usable
    }
    return Object.fromEntries(
      outputs.map((t) => [t.name, { shape: Array.from(t.shape), data: t.data.val, elementType: t.data.tag }]),
    );
  }
}
