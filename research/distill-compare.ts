// Base vs distilled model on the same held-out tasks (evaluation only), per task interleaved so both see the same
// machine load; adds what `npm run bench` cannot: agreement with the BASE model's sequential text.
//   npx tsx research/distill-compare.ts --tasks bench/tasks --limit 40 --models models/default,DIR \
//     --policies sequential,factor:2,threshold:0.9 --out research/bench-distill/compare.json
// Decoding is the engine's (src/engine decode, the request built as src/bench/run.ts builds it); scores are
// src/bench/run.ts's `score`, the benchmark's own.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseBenchPolicy } from '../src/bench/policyArg';
import { readTasks } from '../src/bench/tasks';
import { outcomeOf, score, type Outcome } from '../src/bench/run';
import { buildRequest, decode } from '../src/engine';
import { loadModel } from '../src/model';
import { researchArgs, ROOT, run } from './args';

async function main(): Promise<void> {
  const args = researchArgs({
    usage:
      'Base vs distilled models on the same held-out tasks, interleaved task by task; a markdown table on stdout.\n' +
      'The first model is the base, the first policy must be sequential. --model is not used: name them all in --models.',
    defaults: { threads: 1 },
    options: {
      models: { help: 'comma-separated model folders, the base first' },
      policies: { help: 'comma-separated policies, as npm run bench takes them', default: 'sequential,factor:2,threshold:0.9' },
    },
  });
  if (!args.own.models) throw new Error('--models is required (comma-separated model folders, the base first)');
  const dirs = args.own.models.split(',');
  const policies = args.own.policies!.split(',').map(parseBenchPolicy);
  if (policies[0].spec.name !== 'sequential') throw new Error('the first policy must be sequential');
  const files = readTasks(args.tasks, args.limit);
  const models = [];
  for (const d of dirs) models.push(await loadModel(d, { executionProvider: 'cpu', threads: args.threads }));
  const out: Record<string, Record<string, Record<string, Outcome[]>>> = {}; // file → model → policy → outcomes
  const t0 = Date.now();
  for (const file of files) {
    out[file.name] = {};
    for (const d of dirs) out[file.name][d] = Object.fromEntries(policies.map((p) => [p.label, [] as Outcome[]]));
    for (const task of file.tasks) {
      for (const p of policies) {
        for (let m = 0; m < models.length; m++) {
          const trace = await decode(
            models[m],
            buildRequest({ before: task.prompt, after: task.suffix }, { policy: p.spec, endOfTextPrediction: p.eotp }, file.singleLine),
          );
          out[file.name][dirs[m]][p.label].push(outcomeOf(file.name, task, trace));
        }
      }
    }
    console.error(`${file.name}: ${file.tasks.length} tasks, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  // the bench's own scores, once against the model's own sequential text and once against the base model's
  const texts = (rows: Outcome[]) => new Map(rows.map((o) => [o.taskId, o.text.trim()]));
  const table: Record<string, unknown>[] = [];
  const pct = (x: number) => Math.round(x * 1000) / 10;
  for (const file of files) {
    const baseSeq = texts(out[file.name][dirs[0]][policies[0].label]);
    for (const d of dirs) {
      const selfRows = out[file.name][d][policies[0].label];
      const selfSeq = texts(selfRows);
      const selfForwards = selfRows.reduce((s, o) => s + o.forwards, 0);
      for (const p of policies) {
        const rows = out[file.name][d][p.label];
        const own = score(rows, selfSeq);
        table.push({
          file: file.name,
          model: d,
          policy: p.label,
          tasks: own.tasks,
          forwardsPerTask: Math.round(own.forwardsMean * 100) / 100,
          tokensPerForward: own.tokensPerForward,
          fewerForwardsThanOwnSequential: Math.round((selfForwards / own.forwards) * 100) / 100,
          agreeOwnSequentialPct: pct(own.agreeWithSequential),
          agreeBaseSequentialPct: pct(score(rows, baseSeq).agreeWithSequential),
          exactMatchPct: pct(own.exactMatch),
          editSimilarity: Math.round(own.editSimilarity * 1000) / 1000,
          nonEmptyPct: pct(own.nonEmpty),
          msP50: Math.round(own.latencyMsP50),
        });
      }
    }
  }
  if (args.out) {
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, JSON.stringify({ tasks: path.relative(ROOT, args.tasks), limit: args.limit ?? null, models: dirs, table }, null, 1) + '\n');
  }
  const cols = Object.keys(table[0]);
  console.log('| ' + cols.join(' | ') + ' |\n|' + cols.map(() => ' --- |').join(''));
  for (const r of table) console.log('| ' + cols.map((c) => String(r[c])).join(' | ') + ' |');
  for (const m of models) await m.dispose();
}

run(main);
