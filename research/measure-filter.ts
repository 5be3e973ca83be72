// The learned filter's cost inside the decode loop: decodes training-split samples with `learned` and
// reports the median milliseconds per step of the filter graph against the model's forward.
//   npx tsx research/measure-filter.ts [--tasks DIR] [--limit 10] [--model DIR] [--threads N]
import { percentile } from '../src/bench/metrics';
import { readTasks } from '../src/bench/tasks';
import { buildRequest, decode, type SlotFilter } from '../src/engine';
import { loadModel } from '../src/model';
import { researchArgs, run } from './args';

async function main(): Promise<void> {
  const args = researchArgs({
    usage: "The learned filter's cost per decode step against the model's forward, on training-split samples decoded with `learned`.",
    defaults: { tasks: 'training/.work/filter/tasks', limit: 10, threads: 2 },
  });
  const model = await loadModel(args.model, { executionProvider: 'cpu', threads: args.threads });
  if (!model.filter) throw new Error('this model folder has no filter (files.filter)');
  const inner = model.filter;
  const filterMs: number[] = [];
  const rows: number[] = [];
  const timed: SlotFilter = {
    score: async (f, n) => {
      const t = performance.now();
      const s = await inner.score(f, n);
      filterMs.push(performance.now() - t);
      rows.push(n);
      return s;
    },
  };
  const forwardMs: number[] = [];
  for (const file of readTasks(args.tasks, args.limit)) {
    for (const task of file.tasks) {
      const trace = await decode(
        { ...model, filter: timed },
        buildRequest({ before: task.prompt, after: task.suffix }, { policy: { name: 'learned' }, endOfTextPrediction: true }, file.singleLine),
      );
      forwardMs.push(...trace.steps.map((s) => s.msModel));
    }
  }
  const med = (xs: number[]) => percentile(xs, 50);
  console.log(
    `${filterMs.length} steps: filter median ${med(filterMs).toFixed(3)} ms (p90 ${percentile(filterMs, 90).toFixed(3)}, ` +
      `median ${med(rows)} rows), forward median ${med(forwardMs).toFixed(2)} ms (p90 ${percentile(forwardMs, 90).toFixed(2)}); ` +
      `filter/forward ${((100 * med(filterMs)) / med(forwardMs)).toFixed(1)}%`,
  );
  await model.dispose();
}

run(main);
