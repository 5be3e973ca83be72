// The learned filter's cost inside the decode loop (issue 12): decodes training-split samples with `learned` and
// reports the median milliseconds per step of the filter graph against the model's forward.
//   npx tsx scripts/measure-filter.ts [--tasks training/.work/filter/tasks] [--limit 10] [--model DIR]
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../src/bench/metrics';
import { readTasks } from '../src/bench/tasks';
import { buildRequest, decode, type SlotFilter } from '../src/engine';
import { defaultModelDir, loadModel } from '../src/model';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..');
  const { values } = parseArgs({ options: {
    tasks: { type: 'string', default: path.join(root, 'training', '.work', 'filter', 'tasks') },
    limit: { type: 'string', default: '10' }, model: { type: 'string' }, threads: { type: 'string', default: '2' },
  } });
  const model = await loadModel(values.model ?? defaultModelDir(root), { executionProvider: 'cpu', threads: Number(values.threads) });
  if (!model.filter) throw new Error('this model folder has no filter (files.filter)');
  const inner = model.filter;
  const filterMs: number[] = [];
  const rows: number[] = [];
  const timed: SlotFilter = { score: async (f, n) => {
    const t = performance.now();
    const s = await inner.score(f, n);
    filterMs.push(performance.now() - t);
    rows.push(n);
    return s;
  } };
  const forwardMs: number[] = [];
  for (const file of readTasks(values.tasks!, Number(values.limit))) {
    for (const task of file.tasks) {
      const trace = await decode({ ...model, filter: timed },
        buildRequest({ before: task.prompt, after: task.suffix }, { policy: { name: 'learned' }, endOfTextPrediction: true }, file.singleLine));
      forwardMs.push(...trace.steps.map((s) => s.msModel));
    }
  }
  const med = (xs: number[]) => percentile(xs, 50);
  console.log(`${filterMs.length} steps: filter median ${med(filterMs).toFixed(3)} ms (p90 ${percentile(filterMs, 90).toFixed(3)}, ` +
    `median ${med(rows)} rows), forward median ${med(forwardMs).toFixed(2)} ms (p90 ${percentile(forwardMs, 90).toFixed(2)}); ` +
    `filter/forward ${(100 * med(filterMs) / med(forwardMs)).toFixed(1)}%`);
  await model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
