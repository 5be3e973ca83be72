// Forward cost of model folders side by side (docs/benchmarks.md, "Precision"): prefill of 256/512/1,024 rows and a
// cached step of 32 rows against 512 and 1,536 past rows, in interleaved rounds (so a busy machine slows every folder
// alike), the fastest of the rounds reported.
//
//   npx tsx scripts/precision-bench.ts [--threads 2] [--rounds 3] DIR [DIR …]
import { parseArgs } from 'node:util';
import { ort } from '../src/model/ort';
import { openGraph } from '../src/model/onnxDenoiser';
import type { ModelGraph } from '../src/model/modelGraph';
import { readModelFolder } from '../src/model';

const PREFILL = [256, 512, 1024];
const STEP = { rows: 32, past: [512, 1536] };

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string' } }, allowPositionals: true });
  const threads = Number(values.threads ?? 2);
  const rounds = Number(values.rounds ?? 3);
  const graphs: { dir: string; graph: ModelGraph; fill: number }[] = [];
  for (const dir of positionals) {
    const { manifest, modelFile } = readModelFolder(dir);
    const { graph } = await openGraph(modelFile, 'cpu', threads, manifest.topK);
    graphs.push({ dir, graph, fill: manifest.tokens.pad });
  }
  const cases = [
    ...PREFILL.map((rows) => ({ name: `prefill ${rows}`, rows, past: 0 })),
    ...STEP.past.map((past) => ({ name: `step ${STEP.rows} @ past ${past}`, rows: STEP.rows, past })),
  ];
  const best = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      for (const g of graphs) {
        const ids = new ort.Tensor('int64', new BigInt64Array(c.rows).fill(BigInt(g.fill)), [1, c.rows]);
        const past = c.past ? g.graph.emptyPast(c.past) : undefined;
        const positions = Array.from({ length: 24 }, (_, i) => c.past + i);
        if (r === 0 && c === cases[0]) await g.graph.run({ ids, start: c.past, past, positions }); // warm-up
        const t = performance.now();
        await g.graph.run({ ids, start: c.past, past, positions });
        const ms = performance.now() - t;
        const key = `${c.name}|${g.dir}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, ms));
      }
    }
  }
  process.stdout.write(`| case | ${graphs.map((g) => g.dir).join(' | ')} |\n| --- |${graphs.map(() => ' --- |').join('')}\n`);
  for (const c of cases) {
    process.stdout.write(`| ${c.name} | ${graphs.map((g) => `${Math.round(best.get(`${c.name}|${g.dir}`)!)} ms`).join(' | ')} |\n`);
  }
  for (const g of graphs) await g.graph.release();
}

void main();
