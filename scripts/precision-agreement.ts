// Top-1 agreement of each precision with fp32 (docs/benchmarks.md, "Precision"): converts a checkpoint to every
// precision the converter offers, runs the same canvases of masked real code through each graph (batch 1, as the
// editor runs them) and counts the masked rows whose top-1 equals fp32's.
//
//   npx tsx scripts/precision-agreement.ts CHECKPOINT_DIR [--canvases 6] [--length 256] [--text FILE,FILE]
//
// The code is the knip gaps' text (bench/latency/gaps.jsonl: not this repository's own, so the figures do not move
// when the repository's code does); a third of each canvas's rows are masked at fixed positions.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { convert } from '../src/convert';
import { PRECISIONS } from '../src/contract/precision';
import { openGraph } from '../src/model/onnxDenoiser';
import { readModelFolder } from '../src/model';
import { ort } from '../src/model/ort';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { canvases: { type: 'string' }, length: { type: 'string' }, text: { type: 'string' } },
    allowPositionals: true,
  });
  const ckpt = positionals[0];
  if (!ckpt) throw new Error('usage: precision-agreement.ts CHECKPOINT_DIR');
  const count = Number(values.canvases ?? 6);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-precision-'));
  try {
    const text = values.text
      ? values.text
          .split(',')
          .map((f) => fs.readFileSync(f, 'utf8'))
          .join('\n')
      : fs
          .readFileSync(path.join(__dirname, '..', 'bench', 'latency', 'gaps.jsonl'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { prompt: string }).prompt)
          .join('\n');
    const answers: Record<string, number[]> = {};
    for (const precision of ['fp32', ...PRECISIONS.filter((p) => p !== 'fp32' && p !== 'fp16')]) {
      const out = path.join(work, precision);
      await convert(ckpt, out, { precision: precision as (typeof PRECISIONS)[number] });
      const { manifest, tokenizer, modelFile } = readModelFolder(out);
      const length = Math.min(Number(values.length ?? 256), manifest.maxSequence);
      const tokens = tokenizer.encode(text);
      const masked = Array.from({ length }, (_, i) => i).filter((i) => (i * 7919) % 3 === 0); // every third row, spread
      const { graph } = await openGraph(modelFile, 'cpu', 2, manifest.topK);
      answers[precision] = [];
      for (let c = 0; c < count; c++) {
        const canvas = tokens.slice(c * length, (c + 1) * length);
        if (canvas.length < length) throw new Error(`the text holds fewer than ${count} canvases of ${length} tokens`);
        for (const i of masked) canvas[i] = manifest.tokens.mask;
        const ids = new ort.Tensor('int64', BigInt64Array.from(canvas, BigInt), [1, length]);
        const positions = masked.map((i) => Math.max(0, i - manifest.logitsShift));
        const { predictions } = await graph.run({ ids, start: 0, positions });
        answers[precision].push(...predictions.map((p) => p.ids[0]));
      }
      await graph.release();
    }
    const rows = answers.fp32.length;
    process.stdout.write(`${path.basename(ckpt)}: ${rows} masked rows; top-1 agreement with fp32:`);
    for (const [p, a] of Object.entries(answers)) {
      if (p === 'fp32') continue;
      process.stdout.write(` ${p} ${((100 * a.filter((id, i) => id === answers.fp32[i]).length) / rows).toFixed(1)}%`);
    }
    process.stdout.write('\n');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`precision-agreement: ${(e as Error).message}\n`);
  process.exit(1);
});
