// The bundled model folder (models/default) from the training checkpoint, through the same converter as any other
// model (`npm run convert`), keeping what the converter cannot know from a checkpoint:
//   npx tsx scripts/make-default-model.ts [--checkpoint DIR] [--precision int8] [--out models/default]
// DIR is a checkpoint folder (config.json + model.safetensors + tokenizer.json), by default written first from
// training/checkpoints/default.pt by training/to_safetensors.py. Kept from the folder being replaced: the learned filter
// (filter.onnx and its manifest fields), the slot budgets, the refresh rule of the cache if any, metrics.json and the
// model card README.md (their figures are the trained model's; the card's sections on the export are updated by hand).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { convert } from '../src/convert';
import { PRECISIONS, type Precision } from '../src/contract/precision';
import { MANIFEST_FILE, parseManifest } from '../src/contract/manifest';

const ROOT = path.resolve(__dirname, '..');
/** Manifest fields of the bundled folder that come from training, not from the checkpoint. */
const KEPT_FIELDS = ['slots', 'cache', 'filterFeatures', 'filterTraining', 'config'] as const;
/** Files of the bundled folder that the converter does not write. */
const KEPT_FILES = ['filter.onnx', 'metrics.json', 'README.md'];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      checkpoint: { type: 'string' },
      precision: { type: 'string', default: 'int8' },
      out: { type: 'string', default: path.join(ROOT, 'models', 'default') },
      name: { type: 'string', default: 'unmask-tiny-code' },
    },
  });
  if (!(PRECISIONS as readonly string[]).includes(values.precision!))
    throw new Error(`--precision is ${values.precision}; expected one of ${PRECISIONS.join(', ')}`);
  const out = path.resolve(values.out!);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-default-'));
  try {
    let checkpoint = values.checkpoint;
    if (!checkpoint) {
      checkpoint = path.join(tmp, 'checkpoint');
      const py = spawnSync(
        process.env.PYTHON ?? 'python3',
        [path.join(ROOT, 'training', 'to_safetensors.py'), path.join(ROOT, 'training', 'checkpoints', 'default.pt'), '--out', checkpoint],
        { stdio: 'inherit' },
      );
      if (py.status !== 0) throw new Error('training/to_safetensors.py failed (bash training/install.sh installs its packages), or pass --checkpoint DIR');
    }
    const before = fs.existsSync(path.join(out, MANIFEST_FILE)) ? JSON.parse(fs.readFileSync(path.join(out, MANIFEST_FILE), 'utf8')) : {};
    const converted = path.join(tmp, 'model');
    const maxSequence = typeof before.maxSequence === 'number' ? before.maxSequence : undefined;
    await convert(checkpoint, converted, { precision: values.precision as Precision, name: values.name, ...(maxSequence ? { maxSequence } : {}) });

    const manifest = JSON.parse(fs.readFileSync(path.join(converted, MANIFEST_FILE), 'utf8'));
    // as the folder had them, absent included (the bundled model decodes without the cache unless its manifest asks)
    for (const field of KEPT_FIELDS) {
      if (before[field] === undefined) delete manifest[field];
      else manifest[field] = before[field];
    }
    for (const file of KEPT_FILES) {
      if (fs.existsSync(path.join(out, file))) fs.copyFileSync(path.join(out, file), path.join(converted, file));
    }
    if (before.files?.filter && fs.existsSync(path.join(converted, before.files.filter))) manifest.files.filter = before.files.filter;
    const text = JSON.stringify(manifest, null, 2) + '\n';
    parseManifest(text, path.join(out, MANIFEST_FILE));
    fs.writeFileSync(path.join(converted, MANIFEST_FILE), text);

    // replace the folder's files (the folder itself stays: it is tracked by git)
    fs.mkdirSync(out, { recursive: true });
    for (const f of fs.readdirSync(out)) fs.rmSync(path.join(out, f), { recursive: true, force: true });
    for (const f of fs.readdirSync(converted)) fs.copyFileSync(path.join(converted, f), path.join(out, f));
    const sizes = fs
      .readdirSync(out)
      .sort()
      .map((f) => `${f} ${(fs.statSync(path.join(out, f)).size / 2 ** 20).toFixed(2)} MiB`);
    console.log(`wrote ${out}: ${sizes.join(', ')}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
