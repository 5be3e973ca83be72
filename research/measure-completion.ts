// Time one single-line infill with about 400 tokens of context on the bundled model, warm, for
// `sequential` and the default policy: forwards and total ms (median of 20 runs), and the model's load time.
//   npx tsx scripts/measure-completion.ts [--runs 20]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../src/bench/metrics';
import { decode, DEFAULT_POLICY } from '../src/engine';
import { defaultModelDir, loadModel } from '../src/model';
import type { PolicySpec } from '../src/protocol';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
  const runs = Number(values.runs);
  const t0 = performance.now();
  const model = await loadModel(defaultModelDir(path.resolve(__dirname, '..')), { executionProvider: 'cpu', threads: 2 });
  const loadMs = performance.now() - t0;
  // a held-out single-line task, its context cut to about 300 tokens before and 100 after the cursor
  const task = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', 'bench', 'tasks', 'python-single-line.jsonl'), 'utf8').split('\n')[0]);
  const prefix = model.tokenizer.decode(model.tokenizer.encode(task.prompt).slice(-300));
  const suffix = model.tokenizer.decode(model.tokenizer.encode(task.suffix).slice(0, 100));
  console.log(`model ${model.info.name}: loaded in ${loadMs.toFixed(0)} ms (${model.info.executionProvider}, ${model.info.threads} threads)`);
  for (const policy of [{ name: 'sequential' } as PolicySpec, DEFAULT_POLICY]) {
    const ms: number[] = [];
    let forwards = 0;
    let text = '';
    for (let i = 0; i < runs + 2; i++) {
      const trace = await decode(model, { prefix, suffix, slots: 24, singleLine: true, policy, eotp: true });
      if (i >= 2) ms.push(trace.stats.msTotal);   // two warm-up runs
      forwards = trace.stats.forwards;
      text = trace.result.text;
    }
    console.log(`${JSON.stringify(policy)}: ${forwards} forwards, median ${percentile(ms, 50).toFixed(1)} ms ` +
      `(p90 ${percentile(ms, 90).toFixed(1)}) over ${runs} runs, context ${model.tokenizer.encode(prefix).length}+${model.tokenizer.encode(suffix).length} tokens → ${JSON.stringify(text)}`);
  }
  await model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
