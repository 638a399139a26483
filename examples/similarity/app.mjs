// The page's logic: load the transpiled encoder component, embed both texts
// in one call and show the cosine of their embeddings. `node js/example.mjs
// similarity` puts the model (encoder/) and the library (wasmodel.mjs, from
// js/src/index.mjs) beside this file and serves it.
import { Model, PredictError } from './wasmodel.mjs';

const form = document.getElementById('texts');
const similarity = document.getElementById('similarity');

/** The cosine of rows 0 and 1 of a [2, width] tensor. */
function cosine({ shape, data }) {
  const width = shape[1];
  let dot = 0;
  let first = 0;
  let second = 0;
  for (let i = 0; i < width; i++) {
    dot += data[i] * data[width + i];
    first += data[i] * data[i];
    second += data[width + i] * data[width + i];
  }
  return dot / Math.sqrt(first * second);
}

function show(model) {
  const texts = [form.elements.first.value, form.elements.second.value];
  try {
    const out = model.predict({ text: { shape: [2], data: texts } });
    similarity.textContent = cosine(out.sentence_embedding).toFixed(4);
  } catch (e) {
    similarity.textContent = e instanceof PredictError ? `cannot compare: ${e.message}` : `error: ${e}`;
  }
  similarity.dataset.ready = 'true';
}

try {
  const { predictor } = await import('./encoder/encoder.js');
  const model = new Model(predictor);
  const { name, outputs } = model.info;
  document.getElementById('about').textContent = `Model: ${name}, ${outputs[0].shape[1]}-dimensional embeddings.`;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show(model);
  });
  form.querySelector('button').disabled = false;
  show(model);
} catch (e) {
  similarity.textContent = `cannot load the model: ${e}`;
  similarity.dataset.ready = 'true';
}
