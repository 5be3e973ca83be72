// Reuse across keystrokes, replayed (docs/benchmarks.md, "Reuse across keystrokes"): in each of 5 real files a line
// is typed again character by character, one request per keystroke (each keystroke outlasting the debounce), with
// the code after the cursor in place. Every request is decoded twice on separate model sessions: with reuse (the
// editor's default) and fresh. Reported: per request after the first the milliseconds of the first forward and of
// the whole decode, the rows reused, and how often the text equals the fresh decode's.
//
//   npx tsx scripts/reuse-replay.ts --model DIR [--chars 20] [--budget 0|auto|MS] [--cache] [--threads N] [--fresh-uncached] [--max-drift X]
//
// --budget 0 (the default) decodes without a time budget, so the two texts differ only by the reuse; `auto` is what
// the editor does. --max-drift X turns the drift test on (model/cachedDenoiser.ts REUSE). --cache decodes with the
// dual cache where the folder's manifest does not ask for it (the bundled model): reuse needs the cache. The files are
// knip 6.48.0's (ISC, node_modules/knip/dist), as scripts/latency.ts's gaps.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildRequest, decode, DEFAULT_POLICY } from '../src/engine';
import { percentile } from '../src/bench/metrics';
import { loadModel, type LoadedModel } from '../src/model';
import type { Trace } from '../src/protocol';
import { CachedDenoiser } from '../src/model/cachedDenoiser';

const ROOT = path.resolve(__dirname, '..');
const FILES = ['ConfigurationChief.js', 'DependencyDeputy.js', 'WorkspaceWorker.js', 'ProjectPrincipal.js', 'IssueCollector.js'];

interface Keystroke {
  file: string;
  before: string;
  after: string;
}

/** A line near the middle of each file with code after the typed part: the user types its middle again. */
function keystrokes(chars: number): Keystroke[][] {
  return FILES.map((name) => {
    const text = fs.readFileSync(path.join(ROOT, 'node_modules', 'knip', 'dist', name), 'utf8');
    const lines = text.split('\n');
    const good = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.trim().length >= chars + 16 && !/^\s*(\/\/|\*|\/\*)/.test(l));
    const { l, i } = good[Math.floor(good.length * 0.4)];
    const lineStart = lines.slice(0, i).reduce((s, x) => s + x.length + 1, 0);
    const from = lineStart + (l.length - l.trimStart().length) + 4;
    const after = text.slice(from + chars);
    return Array.from({ length: chars }, (_, k) => ({
      file: `${name}#L${i + 1}`,
      before: text.slice(Math.max(0, from - 12_000), from + k + 1),
      after: after.slice(0, 4000),
    }));
  });
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      model: { type: 'string' },
      chars: { type: 'string' },
      budget: { type: 'string' },
      cache: { type: 'boolean' },
      threads: { type: 'string' },
      'fresh-uncached': { type: 'boolean' },
      'max-drift': { type: 'string' },
    },
  });
  const modelDir = path.resolve(v.model ?? path.join(ROOT, 'models', 'default'));
  const budget = v.budget === 'auto' ? ('auto' as const) : Number(v.budget ?? 0);
  const files = keystrokes(Number(v.chars ?? 20));
  const open = (cache = v.cache) =>
    loadModel(modelDir, { executionProvider: 'cpu', threads: v.threads ? Number(v.threads) : 0, ...(cache ? { cache: true } : {}) });
  const run = async (model: LoadedModel, k: Keystroke, reuse: boolean): Promise<Trace> => {
    const request = buildRequest(
      { before: k.before, after: k.after },
      { policy: DEFAULT_POLICY, endOfTextPrediction: true, timeBudgetMs: budget || undefined, reuse },
    );
    return decode(model, request);
  };
  const withReuse = await open();
  // --max-drift X: the drift test on (CachedDenoiser.maxDrift): a reuse whose recomputed rows moved more is refused
  if (v['max-drift'] && withReuse.denoiser instanceof CachedDenoiser) withReuse.denoiser.maxDrift = Number(v['max-drift']);
  // --fresh-uncached: the fresh decodes without the dual cache (how far the cache alone moves the text, for scale)
  const fresh = await open(v['fresh-uncached'] ? false : v.cache);
  process.stdout.write(
    `model ${withReuse.info.name}, ${withReuse.info.threads} threads, budget ${budget || 'none'}${v['max-drift'] ? `, drift test at ${v['max-drift']}` : ''}\n`,
  );
  process.stdout.write(
    '| file | keystrokes | rows reused (median of canvas) | first forward ms, reuse / fresh (p50) | request ms, reuse / fresh (p50) | forwards, reuse / fresh (mean) | text equal |\n| --- | --- | --- | --- | --- | --- | --- |\n',
  );
  // per reusing request: the drift of the recomputed rows next to the reused ones (CachedDenoiser.lastDrift), and
  // whether its text equalled the fresh decode's: could a rule "reuse only below a drift" keep the text?
  const drifts: { drift: number; equal: boolean }[] = [];
  const all = { reuseMs: [] as number[], freshMs: [] as number[], reuseFirst: [] as number[], freshFirst: [] as number[], equal: 0, n: 0, reusing: 0 };
  for (const strokes of files) {
    const rows: string[] = [];
    const f = {
      reuseMs: [] as number[],
      freshMs: [] as number[],
      reuseFirst: [] as number[],
      freshFirst: [] as number[],
      equal: 0,
      reused: [] as number[],
      reuseForwards: 0,
      freshForwards: 0,
    };
    for (const [j, k] of strokes.entries()) {
      // fresh first, then with reuse: the reuse session's last canvas is its own previous request's
      const a = await run(fresh, k, false);
      const b = await run(withReuse, k, true);
      if (j === 0) continue; // the first request of a file has nothing to reuse
      f.freshMs.push(a.stats.msTotal);
      f.reuseMs.push(b.stats.msTotal);
      f.freshFirst.push(a.steps[0]?.msModel ?? 0);
      f.reuseFirst.push(b.steps[0]?.msModel ?? 0);
      f.reuseForwards += b.stats.forwards;
      f.freshForwards += a.stats.forwards;
      f.reused.push((b.stats.reusedRows ?? 0) / (b.prefixTokens + b.suffixTokens + b.slots));
      const drift = withReuse.denoiser instanceof CachedDenoiser ? withReuse.denoiser.lastDrift : undefined;
      if (b.stats.reusedRows) all.reusing++;
      if (drift !== undefined) drifts.push({ drift, equal: a.result.text === b.result.text });
      if (a.result.text === b.result.text) f.equal++;
      else rows.push(`    differs at "${k.before.slice(-20)}": fresh ${JSON.stringify(a.result.text)} / reuse ${JSON.stringify(b.result.text)}`);
    }
    const n = f.reuseMs.length;
    process.stdout.write(
      `| ${strokes[0].file} | ${n} | ${Math.round(100 * percentile(f.reused, 50))}% | ${Math.round(percentile(f.reuseFirst, 50))} / ${Math.round(percentile(f.freshFirst, 50))} | ${Math.round(percentile(f.reuseMs, 50))} / ${Math.round(percentile(f.freshMs, 50))} | ${(f.reuseForwards / n).toFixed(1)} / ${(f.freshForwards / n).toFixed(1)} | ${f.equal} of ${n} |\n`,
    );
    if (rows.length) process.stderr.write(rows.join('\n') + '\n');
    all.reuseMs.push(...f.reuseMs);
    all.freshMs.push(...f.freshMs);
    all.reuseFirst.push(...f.reuseFirst);
    all.freshFirst.push(...f.freshFirst);
    all.equal += f.equal;
    all.n += n;
  }
  process.stdout.write(
    `all: ${all.n} requests after the first, ${all.reusing} reusing rows; request p50 ${Math.round(percentile(all.reuseMs, 50))} ms with reuse, ${Math.round(percentile(all.freshMs, 50))} ms fresh (p95 ${Math.round(percentile(all.reuseMs, 95))} / ${Math.round(percentile(all.freshMs, 95))}); first forward p50 ${Math.round(percentile(all.reuseFirst, 50))} / ${Math.round(percentile(all.freshFirst, 50))} ms; text equal to the fresh decode: ${all.equal} of ${all.n} (${((100 * all.equal) / all.n).toFixed(1)}%)\n`,
  );
  if (drifts.length) {
    // a request whose drift is past the bound would compute its whole canvas (the fresh decode's text)
    const sorted = [...drifts].sort((x, y) => x.drift - y.drift);
    const lines = [0, 0.25, 0.5, 0.75, 1].map((q) => {
      const kept = sorted.slice(0, Math.round(q * sorted.length));
      const bound = kept.length ? kept[kept.length - 1].drift : 0;
      const equal = all.n - kept.length + kept.filter((d) => d.equal).length;
      return `| ${kept.length ? bound.toExponential(1) : 'below the least'} | ${kept.length} of ${all.n} | ${equal} of ${all.n} (${((100 * equal) / all.n).toFixed(1)}%) |`;
    });
    process.stdout.write(
      `\ndrift of the recomputed rows next to the reused ones (‖new − old‖ / ‖old‖ of keys and values): ${sorted[0].drift.toExponential(1)}–${sorted.at(-1)!.drift.toExponential(1)}; the least-drifted request whose text differs: ${(sorted.find((d) => !d.equal)?.drift ?? NaN).toExponential(1)}\n` +
        '| reuse only at drift ≤ | requests reusing | text equal to the fresh decode |\n| --- | --- | --- |\n' +
        lines.join('\n') +
        '\n',
    );
  }
  await withReuse.dispose();
  await fresh.dispose();
}

void main();
