// The page's logic: load the transpiled iris component, predict from the
// form. `node js/example.mjs` puts the model (iris/) and the library
// (wasmodel.mjs, from js/src/index.mjs) beside this file and serves it.
import { Model, PredictError } from './wasmodel.mjs';

const SPECIES = ['setosa', 'versicolor', 'virginica'];
const form = document.getElementById('flower');
const prediction = document.getElementById('prediction');
const probabilities = document.getElementById('probabilities');

function show(model) {
  const features = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'].map((f) => Number(form.elements[f].value));
  try {
    const out = model.predict({ features: { shape: [1, 4], data: new Float32Array(features) } });
    const label = Number(out.label.data[0]);
    prediction.textContent = SPECIES[label];
    probabilities.textContent = model.info.outputs[1].classLabels
      .map((c, i) => `${SPECIES[c]} ${out.probabilities.data[i].toFixed(2)}`)
      .join(', ');
  } catch (e) {
    prediction.textContent = e instanceof PredictError ? `cannot predict: ${e.message}` : `error: ${e}`;
  }
  prediction.dataset.ready = 'true';
}

try {
  const { predictor } = await import('./iris/iris.js');
  const model = new Model(predictor);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show(model);
  });
  form.querySelector('button').disabled = false;
  show(model);
} catch (e) {
  prediction.textContent = `cannot load the model: ${e}`;
  prediction.dataset.ready = 'true';
}
