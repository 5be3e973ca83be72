// The model folder contract (docs/model-contract.md) on the shipped model, and how broken folders are refused.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultModelDir, loadModel, type LoadedModel } from '../../../src/model';

const MODEL_DIR = defaultModelDir(path.resolve(__dirname, '..', '..', '..'));
const ROOT = path.resolve(__dirname, '..', '..', '..');

/** A copy of the shipped folder (the graph linked, not copied, unless corrupted), changed by `edit`. */
function brokenCopy(edit: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-model-'));
  for (const f of fs.readdirSync(MODEL_DIR)) {
    const src = path.join(MODEL_DIR, f);
    if (f.endsWith('.onnx') || f.endsWith('.onnx.data')) fs.symlinkSync(src, path.join(dir, f));
    else fs.copyFileSync(src, path.join(dir, f));
  }
  edit(dir);
  return dir;
}
const editManifest = (change: (m: Record<string, any>) => void) => (dir: string) => {
  const file = path.join(dir, 'unmask.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  change(m);
  fs.writeFileSync(file, JSON.stringify(m));
};
const replaceGraph = (dir: string, bytes: Buffer) => {
  fs.unlinkSync(path.join(dir, 'model.onnx'));
  fs.writeFileSync(path.join(dir, 'model.onnx'), bytes);
  // onnxruntime refuses weights whose real path leaves the graph's folder: a link no longer will do
  fs.unlinkSync(path.join(dir, 'model.onnx.data'));
  fs.copyFileSync(path.join(MODEL_DIR, 'model.onnx.data'), path.join(dir, 'model.onnx.data'));
};

async function assertRefused(edit: (dir: string) => void, message: RegExp) {
  const dir = brokenCopy(edit);
  try {
    await assert.rejects(loadModel(dir, { executionProvider: 'cpu', threads: 1 }), (e: Error) => {
      assert.equal(e.name, 'ModelFolderError');
      assert.match(e.message, message);
      return true;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('model folder: the shipped model', function () {
  let model: LoadedModel;
  before(async () => {
    model = await loadModel(MODEL_DIR, { executionProvider: 'cpu', threads: 2 });
  });
  after(() => model?.dispose());

  it('loads and agrees with its manifest', () => {
    assert.equal(model.info.vocabSize, model.manifest.vocabSize);
    assert.equal(model.info.executionProvider, 'cpu');
    assert.equal(model.info.threads, 2);
    assert.ok(model.tokenizer.vocabSize <= model.manifest.vocabSize);
    assert.equal(model.model.tokens.mask, model.manifest.tokens.mask);
  });

  it('answers the graph contract: top-K ids in the vocabulary, probabilities descending, one entropy per position', async () => {
    const { mask } = model.model.tokens;
    const canvas = [...model.tokenizer.encode('def add(a, b):\n    return '), mask, mask, mask, ...model.tokenizer.encode('\n')];
    const positions = [canvas.indexOf(mask), canvas.indexOf(mask) + 2];
    const preds = await model.denoiser.forward(canvas, positions);
    assert.equal(preds.length, 2);
    for (const p of preds) {
      assert.equal(p.ids.length, model.manifest.topK);
      for (let i = 0; i < p.ids.length; i++) assert.ok(p.ids[i] >= 0 && p.ids[i] < model.manifest.vocabSize);
      for (let i = 1; i < p.probs.length; i++) assert.ok(p.probs[i] <= p.probs[i - 1] + 1e-6);
      assert.ok(p.probs[0] > 0 && p.probs[0] <= 1 && Number.isFinite(p.entropy) && p.entropy >= 0);
    }
    // the reused input tensor follows the canvas: a changed slot changes the answer's input
    canvas[positions[0]] = preds[0].ids[0];
    assert.equal((await model.denoiser.forward(canvas, [positions[1]])).length, 1);
  });

  it('predicts held-out masked tokens as well as the model card says (a broken export fails here)', async () => {
    // both files are written by training/card.py when the model is exported
    const fixture = path.join(ROOT, 'test', 'fixtures', 'heldout-canvases.json');
    const metrics = path.join(MODEL_DIR, 'metrics.json');
    const { canvases } = JSON.parse(fs.readFileSync(fixture, 'utf8')) as { canvases: { ids: number[]; positions: number[]; truth: number[] }[] };
    const card = JSON.parse(fs.readFileSync(metrics, 'utf8')).fixtureAccuracy as number;
    let right = 0;
    let total = 0;
    for (const c of canvases) {
      const preds = await model.denoiser.forward(c.ids, c.positions);
      preds.forEach((p, i) => (right += Number(p.ids[0] === c.truth[i])));
      total += c.positions.length;
    }
    const accuracy = right / total;
    assert.ok(total > 500 && accuracy >= card - 0.02, `top-1 accuracy ${accuracy.toFixed(4)} on ${total} held-out positions; the card says ${card}`);
  });

  it('tokenizer round-trips real files byte for byte, whitespace included', () => {
    const files = [
      ...fs
        .readdirSync(path.join(ROOT, 'src'), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.ts'))
        .map((f) => path.join(ROOT, 'src', f)),
      ...[
        'vscode-jsonrpc/lib/common/connection.js',
        'lru-cache/README.md',
        'typescript/lib/lib.es5.d.ts',
        'mocha/lib/runner.js',
        'esbuild/lib/main.d.ts',
        'onnxruntime-common/dist/esm/tensor.d.ts',
      ].map((f) => path.join(ROOT, 'node_modules', f)),
      path.join(ROOT, 'training', 'infill.py'),
    ].filter((f) => fs.existsSync(f));
    assert.ok(files.length >= 8, `only ${files.length} sample files`);
    const weird = 'tabs\tand  spaces  \r\nCRLF\n\n\n  trailing   \nunicode: é ß 中文 😀 \u00a0nbsp\n<|mask|> in text\n';
    for (const text of [weird, ...files.map((f) => fs.readFileSync(f, 'utf8').slice(0, 40_000))]) {
      const ids = model.tokenizer.encode(text);
      assert.ok(!ids.includes(model.model.tokens.mask), 'a mask id from plain text');
      assert.equal(model.tokenizer.decode(ids), text);
    }
  });
});

describe('model folder: a broken folder is refused, naming the problem', function () {
  it('a missing folder', async () => {
    await assert.rejects(loadModel(path.join(os.tmpdir(), 'no-such-unmask-model')), /model folder not found/);
  });
  it('a missing manifest', () => assertRefused((d) => fs.unlinkSync(path.join(d, 'unmask.json')), /unmask\.json: missing/));
  it('a manifest that is not JSON', () =>
    assertRefused((d) => fs.writeFileSync(path.join(d, 'unmask.json'), '{ "format": 1,'), /unmask\.json: not valid JSON/));
  it('a manifest of another format version', () =>
    assertRefused(
      editManifest((m) => (m.format = 3)),
      /field "format" is 3, expected 2/,
    ));
  it('a folder of the old Python exporters (format 1): convert it again', () =>
    assertRefused(
      editManifest((m) => (m.format = 1)),
      /unmask\.json: field "format" is 1: .*convert its checkpoint again with `npm run convert/,
    ));
  it('a missing field', () =>
    assertRefused(
      editManifest((m) => delete m.maxSequence),
      /field "maxSequence" is missing/,
    ));
  it('a missing graph file', () =>
    assertRefused((d) => fs.unlinkSync(path.join(d, 'model.onnx')), /model\.onnx: missing \(named by unmask\.json files\.model\)/));
  it('a missing weights file beside the graph', () =>
    assertRefused(
      (d) => fs.unlinkSync(path.join(d, 'model.onnx.data')),
      /model\.onnx\.data: missing \(named by unmask\.json files\.model: the graph's weights, as external data beside it\)/,
    ));
  it('a missing tokenizer file', () => assertRefused((d) => fs.unlinkSync(path.join(d, 'tokenizer.json')), /tokenizer\.json: missing/));
  it('a tokenizer that is not JSON', () => assertRefused((d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), 'oops'), /tokenizer\.json: not valid JSON/));
  it("a vocabulary smaller than the tokenizer's", () =>
    assertRefused(
      editManifest((m) => (m.vocabSize = 4096)),
      /field "vocabSize" is 4096, but tokenizer\.json has \d+ tokens/,
    ));
  it("a vocabulary larger than the tokenizer's (agreement is checked both ways)", () =>
    assertRefused(
      editManifest((m) => (m.vocabSize = 9000)),
      /field "vocabSize" is 9000, but tokenizer\.json has 8192 tokens/,
    ));
  it('a token id outside the vocabulary', () =>
    assertRefused(
      editManifest((m) => (m.tokens.mask = 9999)),
      /field "tokens\.mask" is 9999, expected a token id in 0…/,
    ));
  it('a token id that is not a special token of the tokenizer', () =>
    assertRefused(
      editManifest((m) => (m.tokens.mask = 500)),
      /field "tokens\.mask" is 500, but tokenizer\.json has no special token/,
    ));
  it('special tokens swapped', () =>
    assertRefused(
      editManifest((m) => ([m.tokens.pad, m.tokens.eos] = [m.tokens.eos, m.tokens.pad])),
      /field "tokens\.pad" is 1, but that is "<\|eos\|>"/,
    ));
  it('a negative window margin of the dual cache', () =>
    assertRefused(
      editManifest((m) => (m.cache = { windowMargin: -1 })),
      /field "cache\.windowMargin" is -1/,
    ));
  it('a wrong top-K', () =>
    assertRefused(
      editManifest((m) => (m.topK = 4)),
      /field "topK" is 4/,
    ));
  it('a truncated graph', () =>
    assertRefused(
      (d) => replaceGraph(d, ((g) => g.subarray(0, g.length >> 1))(fs.readFileSync(path.join(MODEL_DIR, 'model.onnx')))),
      /model\.onnx: is not a loadable ONNX graph/,
    ));
  it('a graph whose input is not named input_ids', () =>
    assertRefused((d) => {
      const bytes = fs.readFileSync(path.join(MODEL_DIR, 'model.onnx'));
      replaceGraph(d, Buffer.from(bytes.toString('latin1').replaceAll('input_ids', 'token_ids'), 'latin1'));
    }, /graph inputs are \[token_ids, start, past_kv, positions\]; missing input_ids/));
});
