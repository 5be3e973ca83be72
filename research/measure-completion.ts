// Time one single-line infill with about 400 tokens of context on the bundled model, warm, for
// `sequential` and the default policy: forwards and total ms (median of 20 runs), and the model's load time.
//   npx tsx research/measure-completion.ts [--runs 20] [--model DIR] [--threads 2]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { percentile } from '../src/bench/metrics';
import { decode, DEFAULT_POLICY } from '../src/engine';
import { loadModel } from '../src/model';
import type { PolicySpec } from '../src/protocol';
import { researchArgs, run } from './args';

async function main(): Promise<void> {
  const args = researchArgs({
    usage:
      'One single-line infill with about 400 tokens of context, warm, with sequential and the default policy: forwards and ms.\n' +
      'The task is the first of --tasks/python-single-line.jsonl.',
    defaults: { threads: 2 },
    options: { runs: { help: 'timed runs of each policy, after two warm-up runs', default: '20' } },
  });
  const runs = Number(args.own.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number of at least 1, got ${args.own.runs}`);
  const t0 = performance.now();
  const model = await loadModel(args.model, { executionProvider: 'cpu', threads: args.threads });
  const loadMs = performance.now() - t0;
  // a held-out single-line task, its context cut to about 300 tokens before and 100 after the cursor
  const task = JSON.parse(fs.readFileSync(path.join(args.tasks, 'python-single-line.jsonl'), 'utf8').split('\n')[0]);
  const prefix = model.tokenizer.decode(model.tokenizer.encode(task.prompt).slice(-300));
  const suffix = model.tokenizer.decode(model.tokenizer.encode(task.suffix).slice(0, 100));
  console.log(`model ${model.info.name}: loaded in ${loadMs.toFixed(0)} ms (${model.info.executionProvider}, ${model.info.threads} threads)`);
  for (const policy of [{ name: 'sequential' } as PolicySpec, DEFAULT_POLICY]) {
    const ms: number[] = [];
    let forwards = 0;
    let text = '';
    for (let i = 0; i < runs + 2; i++) {
      const trace = await decode(model, { prefix, suffix, slots: 24, singleLine: true, policy, eotp: true });
      if (i >= 2) ms.push(trace.stats.msTotal); // two warm-up runs
      forwards = trace.stats.forwards;
      text = trace.result.text;
    }
    console.log(
      `${JSON.stringify(policy)}: ${forwards} forwards, median ${percentile(ms, 50).toFixed(1)} ms ` +
        `(p90 ${percentile(ms, 90).toFixed(1)}) over ${runs} runs, context ${model.tokenizer.encode(prefix).length}+${model.tokenizer.encode(suffix).length} tokens → ${JSON.stringify(text)}`,
    );
  }
  await model.dispose();
}

run(main);
