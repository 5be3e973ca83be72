// The latency benchmark (docs/benchmarks.md, "Latency"): per gap, where a completion's time goes (tokenizing and
// shaping, the first forward, the steps) with the plan on (the editor's default budget, 'auto') and off (the whole
// context, no budget), p50/p95 of each, and the model's load time (first and later load).
//
//   npx tsx scripts/latency.ts --model DIR [--gaps FILE] [--threads N] [--budget auto|MS] [--limit N] [--modes on,off] [--single-line]
//   npx tsx scripts/latency.ts --make-gaps    # writes bench/latency/gaps.jsonl from knip's sources (below)
//
// The gaps are cut from real JavaScript of knip 6.48.0 (ISC licence; node_modules/knip/dist, installed by npm install),
// a package that is not in the bundled model's training corpus (training/corpus-npm-packages.txt): single-line gaps
// inside a line and multi-line gaps at a line's end, with up to 12,000 characters before and 4,000 after the cursor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRequest, decode, DEFAULT_POLICY } from '../src/engine';
import { percentile } from '../src/bench/metrics';
import { loadModel } from '../src/model';
import type { Trace } from '../src/protocol';

const ROOT = path.resolve(__dirname, '..');
const GAPS = path.join(ROOT, 'bench', 'latency', 'gaps.jsonl');
const SOURCES = [
  'ConfigurationChief.js',
  'DependencyDeputy.js',
  'WorkspaceWorker.js',
  'ProjectPrincipal.js',
  'IssueCollector.js',
  'IssueFixer.js',
  'run.js',
  'constants.js',
];

interface Gap {
  task_id: string;
  prompt: string;
  suffix: string;
  canonical_solution: string;
  single_line: boolean;
}

/** Cuts one single-line and one multi-line gap from the middle of each source (deterministic: the same file, the same gaps). */
function makeGaps(): Gap[] {
  const gaps: Gap[] = [];
  for (const name of SOURCES) {
    const text = fs.readFileSync(path.join(ROOT, 'node_modules', 'knip', 'dist', name), 'utf8');
    const lines = text.split('\n');
    // lines with something to complete: long enough, not comments or brackets alone
    const good = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.trim().length >= 30 && !/^\s*(\/\/|\*|\/\*)/.test(l));
    const pick = (frac: number) => good[Math.floor(good.length * frac)];
    const offsetOf = (line: number) => lines.slice(0, line).reduce((s, l) => s + l.length + 1, 0);
    const cut = (start: number, end: number, single: boolean, id: string) => {
      gaps.push({
        task_id: `knip/${name}#${id}`,
        prompt: text.slice(Math.max(0, start - 12_000), start),
        suffix: text.slice(end, end + 4000),
        canonical_solution: text.slice(start, end),
        single_line: single,
      });
    };
    const s = pick(0.5);
    const indent = s.l.length - s.l.trimStart().length;
    const from = offsetOf(s.i) + indent + Math.floor((s.l.length - indent) / 3);
    cut(from, offsetOf(s.i) + s.l.length - 2, true, `L${s.i + 1}`);
    const m = pick(0.7);
    const end = offsetOf(m.i) + m.l.length;
    const next = lines[m.i + 1] ?? '';
    cut(end + 1, end + 1 + next.length, false, `L${m.i + 2}`);
  }
  return gaps;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      model: { type: 'string' },
      gaps: { type: 'string' },
      threads: { type: 'string' },
      budget: { type: 'string' },
      limit: { type: 'string' },
      modes: { type: 'string' },
      'single-line': { type: 'boolean' },
      'make-gaps': { type: 'boolean' },
    },
  });
  if (v['make-gaps']) {
    const gaps = makeGaps();
    fs.writeFileSync(GAPS, gaps.map((g) => JSON.stringify(g)).join('\n') + '\n');
    process.stdout.write(`${GAPS}: ${gaps.length} gaps\n`);
    return;
  }
  const modelDir = path.resolve(v.model ?? path.join(ROOT, 'models', 'default'));
  const gaps = fs
    .readFileSync(v.gaps ?? GAPS, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Gap)
    .filter((g) => !v['single-line'] || g.single_line)
    .slice(0, v.limit ? Number(v.limit) : undefined);
  const modes = (v.modes ?? 'on,off').split(',') as ('on' | 'off')[];
  const threads = v.threads ? Number(v.threads) : 0;
  const budget = v.budget === undefined || v.budget === 'auto' ? ('auto' as const) : Number(v.budget);
  const loads: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    const m = await loadModel(modelDir, { executionProvider: 'cpu', threads });
    loads.push(performance.now() - t);
    if (i === 0) await m.dispose();
    else {
      process.stdout.write(
        `model ${m.info.name}, ${m.info.threads} threads; load ${loads.map((x) => `${Math.round(x)} ms`).join(' then ')} (probes ${m.info.probes}); rss ${Math.round(process.memoryUsage.rss() / 2 ** 20)} MiB\n`,
      );
      process.stdout.write(
        '| gap | context tokens | slots | plan | first forward ms | steps ms | other ms | total ms | forwards | stopped by |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n',
      );
      const totals: Record<string, number[]> = { on: [], off: [] };
      const zero: Record<string, number> = { on: 0, off: 0 };
      for (const gap of gaps) {
        for (const mode of modes) {
          const request = {
            ...buildRequest({ before: gap.prompt, after: gap.suffix }, { policy: { name: DEFAULT_POLICY.name }, endOfTextPrediction: true }, gap.single_line),
            ...(mode === 'on' ? { timeBudgetMs: budget } : { plan: false }),
          };
          const trace: Trace = await decode(m, request);
          const first = trace.steps[0]?.msModel ?? 0;
          const steps = trace.stats.msModel - first;
          totals[mode].push(trace.stats.msTotal);
          if (trace.stats.tokens === 0 && trace.result.stoppedBy === 'timeBudget') zero[mode]++;
          process.stdout.write(
            `| ${gap.task_id} (${gap.single_line ? 'line' : 'lines'}) | ${trace.prefixTokens + trace.suffixTokens} | ${trace.slots} | ${mode === 'on' ? `${trace.plan?.expectedMs ?? '-'} of ${trace.plan?.budgetMs ?? '-'} ms` : 'off'} | ${Math.round(first)} | ${Math.round(steps)} | ${Math.round(trace.stats.msTotal - trace.stats.msModel)} | ${Math.round(trace.stats.msTotal)} | ${trace.stats.forwards} | ${trace.result.stoppedBy}${trace.result.stoppedBy === 'timeBudget' ? ` (the last forward filled ${trace.steps.at(-1)?.unmasked.length ?? 0} slots)` : ''} |\n`,
          );
        }
      }
      for (const mode of modes) {
        process.stdout.write(
          `plan ${mode}: p50 ${Math.round(percentile(totals[mode], 50))} ms, p95 ${Math.round(percentile(totals[mode], 95))} ms over ${totals[mode].length} gaps; stopped on the budget with 0 tokens: ${zero[mode]}\n`,
        );
      }
      await m.dispose();
    }
  }
}

void main().catch((e) => {
  process.stderr.write(`latency: ${(e as Error).message}\n`);
  process.exit(1);
});
