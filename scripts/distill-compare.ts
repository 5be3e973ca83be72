// Base vs distilled model on the same held-out tasks (evaluation only), per task interleaved so both see the same
// machine load; adds what `npm run bench` cannot: agreement with the BASE model's sequential text.
//   npx tsx scripts/distill-compare.ts --tasks bench/tasks --limit 40 --models models/default,DIR \
//     --policies sequential,factor:2,threshold:0.9 --out docs/bench-distill/compare.json
// Decoding is the engine's (src/engine decode, the request built as src/bench/run.ts builds it); scores are
// src/bench/metrics.ts's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { editSimilarity, exactMatch } from '../src/bench/metrics';
import { parseBenchPolicy } from '../src/bench/policyArg';
import { readTasks } from '../src/bench/tasks';
import { buildRequest, decode } from '../src/engine';
import { loadModel } from '../src/model';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    tasks: { type: 'string', default: 'bench/tasks' }, limit: { type: 'string' }, models: { type: 'string' },
    policies: { type: 'string', default: 'sequential,factor:2,threshold:0.9' }, out: { type: 'string' },
    threads: { type: 'string', default: '1' },
  } });
  const dirs = values.models!.split(',');
  const policies = values.policies!.split(',').map(parseBenchPolicy);
  if (policies[0].spec.name !== 'sequential') throw new Error('the first policy must be sequential');
  const files = readTasks(values.tasks!, values.limit ? Number(values.limit) : undefined);
  const models = [];
  for (const d of dirs) models.push(await loadModel(d, { executionProvider: 'cpu', threads: Number(values.threads) }));
  type Row = { text: string; forwards: number; tokens: number; ms: number };
  const out: Record<string, Record<string, Record<string, Row[]>>> = {};   // file → model → policy → rows
  const t0 = Date.now();
  for (const file of files) {
    out[file.name] = {};
    for (const d of dirs) out[file.name][d] = Object.fromEntries(policies.map((p) => [p.label, [] as Row[]]));
    for (const task of file.tasks) {
      for (const p of policies) {
        for (let m = 0; m < models.length; m++) {
          const trace = await decode(models[m], buildRequest({ before: task.prompt, after: task.suffix }, { policy: p.spec, endOfTextPrediction: p.eotp }, file.singleLine));
          out[file.name][dirs[m]][p.label].push({ text: trace.result.text, forwards: trace.stats.forwards, tokens: trace.stats.tokens, ms: trace.stats.msTotal });
        }
      }
    }
    console.error(`${file.name}: ${file.tasks.length} tasks, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const table: Record<string, unknown>[] = [];
  const pct = (x: number) => Math.round(x * 1000) / 10;
  for (const file of files) {
    const baseSeq = out[file.name][dirs[0]][policies[0].label];
    for (const d of dirs) {
      const selfSeq = out[file.name][d][policies[0].label];
      for (const p of policies) {
        const rows = out[file.name][d][p.label];
        const n = rows.length;
        const fwd = rows.reduce((s, r) => s + r.forwards, 0);
        const ms = rows.map((r) => r.ms).sort((a, b) => a - b);
        table.push({
          file: file.name, model: d, policy: p.label, tasks: n,
          forwardsPerTask: Math.round((fwd / n) * 100) / 100,
          tokensPerForward: Math.round((rows.reduce((s, r) => s + r.tokens, 0) / Math.max(1, fwd)) * 1000) / 1000,
          fewerForwardsThanOwnSequential: Math.round((selfSeq.reduce((s, r) => s + r.forwards, 0) / fwd) * 100) / 100,
          agreeOwnSequentialPct: pct(rows.filter((r, i) => r.text.trim() === selfSeq[i].text.trim()).length / n),
          agreeBaseSequentialPct: pct(rows.filter((r, i) => r.text.trim() === baseSeq[i].text.trim()).length / n),
          exactMatchPct: pct(rows.filter((r, i) => exactMatch(r.text, file.tasks[i].canonical_solution)).length / n),
          editSimilarity: Math.round((rows.reduce((s, r, i) => s + editSimilarity(r.text, file.tasks[i].canonical_solution), 0) / n) * 1000) / 1000,
          nonEmptyPct: pct(rows.filter((r) => r.text.trim() !== '').length / n),
          msP50: Math.round(ms[Math.floor((n - 1) / 2)]),
        });
      }
    }
  }
  if (values.out) {
    fs.mkdirSync(path.dirname(values.out), { recursive: true });
    fs.writeFileSync(values.out, JSON.stringify({ tasks: values.tasks, limit: values.limit ?? null, models: dirs, table }, null, 1) + '\n');
  }
  const cols = Object.keys(table[0]);
  console.log('| ' + cols.join(' | ') + ' |\n|' + cols.map(() => ' --- |').join(''));
  for (const r of table) console.log('| ' + cols.map((c) => String(r[c])).join(' | ') + ' |');
  for (const m of models) await m.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
