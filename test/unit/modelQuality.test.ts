// Guards the shipped export: on held-out canvases (15% masked) the model through onnxruntime-node
// must predict the masked tokens as well as its model card says, less a small margin.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultModelDir, loadModel, type LoadedModel } from '../../src/model';

const ROOT = path.resolve(__dirname, '..', '..');
const MARGIN = 0.02;

describe('the bundled model predicts held-out code as its card says', function () {
  this.timeout(120_000);
  let model: LoadedModel;
  before(async () => {
    model = await loadModel(defaultModelDir(ROOT), { executionProvider: 'cpu', threads: 2 });
  });
  after(async () => model?.dispose());

  it(`masked-token accuracy on held-out canvases is within ${MARGIN} of the card's figure`, async () => {
    const fixture = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'heldout-canvases.json'), 'utf8')) as
      { canvases: { ids: number[]; positions: number[]; truth: number[] }[] };
    const card = JSON.parse(fs.readFileSync(path.join(defaultModelDir(ROOT), 'metrics.json'), 'utf8')) as { fixtureAccuracy: number };
    let hits = 0;
    let total = 0;
    for (const c of fixture.canvases) {
      const predictions = await model.denoiser.forward(c.ids, c.positions);
      predictions.forEach((p, i) => {
        hits += p.ids[0] === c.truth[i] ? 1 : 0;
        total++;
      });
    }
    const accuracy = hits / total;
    assert.ok(total > 500, `expected a real fixture, got ${total} positions`);
    assert.ok(accuracy >= card.fixtureAccuracy - MARGIN,
      `accuracy ${accuracy.toFixed(4)} is below the card's ${card.fixtureAccuracy} − ${MARGIN}: is the export broken?`);
  });
});
