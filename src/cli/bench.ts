// npm run bench -- --tasks FILE.jsonl[.gz]|DIR [--limit N] [--policies a,b,…] [--out DIR] [--model DIR] [--threads N]
// Decodes every task with every policy on the bundled model and writes DIR/results.json, the
// frontier plot DIR/frontier.svg, and a table on stdout. Ctrl-C stops after the current task and
// still writes what is finished.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { frontierSvg } from '../bench/frontier';
import { DEFAULT_BENCH_POLICIES, parseBenchPolicy } from '../bench/policyArg';
import { policySyntax } from '../engine/policyTable';
import {
  aupByFamily,
  chooseDefault,
  chooseGate,
  CLOSE_SIMILARITY,
  EXACT_MATCH_DEFINITION,
  runBench,
  type BenchProgress,
  type PolicyResult,
} from '../bench/run';
import { DEFAULT_SLOTS } from '../engine/canvas';
import { readTasks } from '../bench/tasks';
import { defaultModelDir, loadModel } from '../model';
import { openRemote } from '../remote/complete';
import { runMain } from './runMain';

function progressBar(): (p: BenchProgress) => void {
  let last = 0;
  return ({ policy, file, done, total }) => {
    const now = Date.now();
    if (done !== total && now - last < 250) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${policy} · ${file}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100)}${done === total ? '\n' : ''}`);
    else if (done === total || done % 50 === 0) process.stderr.write(line + '\n');
  };
}

function table(results: readonly PolicyResult[]): string {
  const head = ['policy', 'EM %', 'non-empty %', 'edit sim', 'agree seq %', 'fwd/task', 'tok/fwd', 'p50 ms', 'p95 ms'];
  const rows = results.map((r) => [
    r.policy,
    (r.exactMatch * 100).toFixed(1),
    (r.nonEmpty * 100).toFixed(1),
    r.editSimilarity.toFixed(3),
    (r.agreeWithSequential * 100).toFixed(1),
    r.forwardsMean.toFixed(2),
    r.tokensPerForward.toFixed(2),
    r.latencyMsP50.toFixed(0),
    r.latencyMsP95.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(head), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

/** The tables of docs/benchmarks.md: all tasks, then per task file with forwards saved against sequential. */
export function markdownReport(results: readonly PolicyResult[]): string {
  const pct = (x: number) => (x * 100).toFixed(1);
  const lines = [
    '| policy | exact match % | non-empty % | edit sim. | same as sequential % | forwards/task | tokens/forward | p50 ms | p95 ms |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.policy} | ${pct(r.exactMatch)} | ${pct(r.nonEmpty)} | ${r.editSimilarity.toFixed(3)} | ${pct(r.agreeWithSequential)} | ${r.forwardsMean.toFixed(2)} | ${r.tokensPerForward.toFixed(2)} | ${r.latencyMsP50.toFixed(0)} | ${r.latencyMsP95.toFixed(0)} |`,
    );
  }
  const seq = results.find((r) => r.family === 'sequential');
  for (const file of Object.keys(results[0]?.byFile ?? {})) {
    lines.push(
      '',
      `**${file}**`,
      '',
      '| policy | exact match % | Δ EM vs sequential (points) | non-empty % | same as sequential % | forwards/task | fewer forwards than sequential | p50 ms |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const r of results) {
      const f = r.byFile[file];
      const s = seq?.byFile[file];
      const delta = s ? ((f.exactMatch - s.exactMatch) * 100).toFixed(1) : '–';
      const fewer = s ? `${(s.forwardsMean / f.forwardsMean).toFixed(2)}×` : '–';
      lines.push(
        `| ${r.policy} | ${pct(f.exactMatch)} | ${delta} | ${pct(f.nonEmpty)} | ${pct(f.agreeWithSequential)} | ${f.forwardsMean.toFixed(2)} | ${fewer} | ${f.latencyMsP50.toFixed(0)} |`,
      );
    }
  }
  for (const r of results) {
    lines.push(
      '',
      `**The gate on ${r.policy}** (unmask.minConfidence; close: edit similarity ≥ ${CLOSE_SIMILARITY}; the rule chooses ${chooseGate(r.gate)})`,
      '',
      '| min. confidence | shown % | exact of shown % | close of shown % | edit sim. of shown |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const g of r.gate) {
      lines.push(`| ${g.minConfidence} | ${pct(g.shown)} | ${pct(g.exactOfShown)} | ${pct(g.closeOfShown)} | ${g.editSimilarityOfShown.toFixed(3)} |`);
    }
  }
  return lines.join('\n') + '\n';
}

const USAGE = `usage: npm run bench -- --tasks FILE|DIR [--limit N] [--policies P,P,...] [--out DIR] [--model DIR] [--threads N]
Decodes every held-out infill task with every policy and writes DIR/results.json, DIR/report.md and the frontier plot.
  --tasks FILE|DIR  HumanEval-infilling JSONL task file(s), e.g. bench/tasks
  --limit N         the first N tasks of each file
  --policies LIST   comma-separated: ${policySyntax()}, each optionally +noeotp, +blockN, +draftK (lossless draft-and-verify, batches of K; +draft: the model's K)
                    (default: ${DEFAULT_BENCH_POLICIES.join(',')})
  --out DIR         where to write (default bench/results)
  --model DIR       model folder (default: the bundled model)
  --server-url URL  each forward on a team server (npm run serve; the token in UNMASK_SERVER_TOKEN)
  --threads N       onnxruntime threads (default: as the editor and complete, half the cores, 1 to 4; the recorded figures used 2)`;

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      tasks: { type: 'string' },
      limit: { type: 'string' },
      policies: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      model: { type: 'string' },
      threads: { type: 'string', default: '0' },
      'server-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.tasks) throw new Error('--tasks FILE.jsonl[.gz] (or a folder of them) is required, e.g. --tasks bench/tasks');
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive integer, got "${values.limit}"`);
  const policies = (values.policies ? values.policies.split(',') : DEFAULT_BENCH_POLICIES).map(parseBenchPolicy);
  const files = readTasks(values.tasks, limit);
  for (const f of files) for (const line of f.skipped) console.error(line);
  const modelDir = values.model ?? defaultModelDir();
  // --server-url: every forward on a team server (serve/README.md), the decode here as with a local folder
  const loaded = values['server-url']
    ? await openRemote({ serverUrl: values['server-url'], ...(values.model ? { modelDir: values.model } : {}) })
    : await loadModel(modelDir, { executionProvider: 'cpu', threads: Number(values.threads) });
  const out = path.resolve(values.out!);
  fs.mkdirSync(out, { recursive: true });

  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\ninterrupted: finishing the current task, then writing what is done (Ctrl-C again to quit now)\n');
  });

  const write = (results: PolicyResult[], finished: boolean) => {
    const report = {
      model: loaded.info,
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, threads: loaded.info.threads },
      exactMatchDefinition: EXACT_MATCH_DEFINITION,
      slots: loaded.model.slots ?? DEFAULT_SLOTS,
      limit: limit ?? null,
      taskFiles: files.map((f) => ({ name: f.name, tasks: f.tasks.length, singleLine: f.singleLine, skipped: f.skipped })),
      finished,
      policies: results,
      aup: aupByFamily(results),
      recommendedDefault: chooseDefault(results)?.policy ?? null,
    };
    fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify(report, null, 1) + '\n');
    const points = results.map((r) => ({ label: r.policy, family: r.family, tpf: r.tokensPerForward, exactMatch: r.exactMatch, nonEmpty: r.nonEmpty }));
    fs.writeFileSync(path.join(out, 'results.md'), markdownReport(results));
    fs.writeFileSync(path.join(out, 'frontier.svg'), frontierSvg(points, `Unmask policies on ${files.map((f) => f.name).join(', ')}`));
  };

  const t0 = Date.now();
  const results = await runBench({
    decoder: loaded,
    files,
    policies,
    onProgress: progressBar(),
    onPolicyDone: (r) => write(r, false),
    shouldStop: () => stop,
  });
  write(results, !stop && results.length === policies.length);
  await loaded.dispose();
  console.log(table(results));
  console.log(`\nAUP by family: ${JSON.stringify(aupByFamily(results))}`);
  const best = chooseDefault(results);
  console.log(
    best
      ? `default rule (≤ 1 point EM loss on every file, ≥ 80% same as sequential, fewest forwards): ${best.policy}`
      : 'default rule: no policy meets it (≤ 1 point EM loss on every file, ≥ 80% same as sequential)',
  );
  for (const r of results) console.log(`gate rule on ${r.policy}: unmask.minConfidence ${chooseGate(r.gate)}`);
  console.log(`exact match: ${EXACT_MATCH_DEFINITION}`);
  console.log(
    `${stop ? 'interrupted; partial ' : ''}results: ${path.join(out, 'results.json')} (tables: results.md), plot: ${path.join(out, 'frontier.svg')} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
  return 0;
}

if (require.main === module) runMain('bench', () => main());
