// The dual cache's figures (docs/benchmarks.md, "Dual cache and pretrained models"):
//   npx tsx research/measure-cache.ts agreement [--model DIR] [--limit N] [--steps-per-refresh R] [--window-margin M]
//       cached vs uncached decodes on bench/tasks (the default policy, as the editor asks; R, M: else the manifest's rule)
//   npx tsx research/measure-cache.ts speed [--model DIR] [--lengths 256,512,2048] [--window 24] [--reps N] [--window-margin M]
//       load time, memory, full forward and cached step
// Both on 2 threads (--threads), CPU.
import { buildRequest, decode, DEFAULT_POLICY } from '../src/engine';
import { readTasks } from '../src/bench/tasks';
import { CachedDenoiser, loadModel } from '../src/model';
import { researchArgs, run } from './args';

const args = researchArgs({
  usage:
    'The cache on a model folder: agreement (cached vs uncached decodes on --tasks, the default policy) or speed\n' +
    '(load time, memory, full forward and cached step).\n  npx tsx research/measure-cache.ts agreement|speed [options]',
  defaults: { threads: 2 },
  positionals: ['agreement|speed'],
  options: {
    'steps-per-refresh': { help: "the refresh rule: steps between refreshes (else the manifest's)" },
    'window-margin': { help: "rows next to the block recomputed at every step (else the manifest's)" },
    lengths: { help: 'speed: context lengths', default: '128,256,512' },
    window: { help: "speed: the block's slots", default: '24' },
    reps: { help: 'speed: timed repetitions (default 5, 3 at 1024 tokens and more)' },
  },
});
const threads = args.threads;

/** `--steps-per-refresh R` and `--window-margin M`, each else the manifest's. */
const cacheRule = () => ({
  ...(args.own['steps-per-refresh'] !== undefined ? { stepsPerRefresh: Number(args.own['steps-per-refresh']) } : {}),
  ...(args.own['window-margin'] !== undefined ? { windowMargin: Number(args.own['window-margin']) } : {}),
});

async function agreement(dir: string, limit?: number) {
  const cached = await loadModel(dir, { executionProvider: 'cpu', threads, cache: true, ...cacheRule() });
  const plain = await loadModel(dir, { executionProvider: 'cpu', threads, cache: false });
  if (!(cached.denoiser instanceof CachedDenoiser)) throw new Error(`${dir} did not load with the dual cache`);
  let same = 0,
    total = 0,
    msCached = 0,
    msPlain = 0,
    forwardsCached = 0,
    forwardsPlain = 0;
  const perFile: Record<string, [number, number]> = {};
  for (const file of readTasks(args.tasks, limit)) {
    for (const task of file.tasks) {
      const request = buildRequest({ before: task.prompt, after: task.suffix }, { policy: DEFAULT_POLICY, endOfTextPrediction: true }, file.singleLine);
      const a = await decode(plain, request);
      const b = await decode(cached, request);
      const agree = a.result.text === b.result.text;
      same += agree ? 1 : 0;
      total++;
      perFile[file.name] = [(perFile[file.name]?.[0] ?? 0) + (agree ? 1 : 0), (perFile[file.name]?.[1] ?? 0) + 1];
      msPlain += a.stats.msModel;
      msCached += b.stats.msModel;
      forwardsPlain += a.stats.forwards;
      forwardsCached += b.stats.forwards;
    }
  }
  console.log(
    JSON.stringify(
      {
        model: cached.manifest.name,
        tasks: total,
        identicalText: same,
        share: +(same / total).toFixed(4),
        perFile,
        msModelPerDecode: { uncached: +(msPlain / total).toFixed(1), cached: +(msCached / total).toFixed(1) },
        forwardsPerDecode: { uncached: +(forwardsPlain / total).toFixed(2), cached: +(forwardsCached / total).toFixed(2) },
        cache: { ...cached.denoiser.stats, stepsPerRefresh: cached.denoiser.stepsPerRefresh, windowMargin: cached.denoiser.windowMargin },
      },
      null,
      1,
    ),
  );
  await cached.dispose();
  await plain.dispose();
}

async function speed(dir: string, lengths: number[], window: number) {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  // the step itself, whatever the folder's refresh rule; its window is the block and the margin on each side
  const model = await loadModel(dir, { executionProvider: 'cpu', threads, cache: true, ...cacheRule(), stepsPerRefresh: Infinity });
  const loadMs = performance.now() - t0;
  const rssLoaded = process.memoryUsage().rss;
  const plain = await loadModel(dir, { executionProvider: 'cpu', threads, cache: false });
  const cached = model.denoiser;
  if (!(cached instanceof CachedDenoiser)) throw new Error(`${dir} did not load with the dual cache`);
  const { mask, pad } = model.model.tokens;
  const rows: Record<string, number>[] = [];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const n of lengths.filter((x) => x <= model.manifest.maxSequence)) {
    const canvas = Array.from({ length: n }, (_, i) => (i * 7919) % (model.manifest.vocabSize - 10));
    const start = Math.floor(n / 2);
    for (let i = 0; i < window; i++) canvas[start + i] = mask;
    const positions = Array.from({ length: window }, (_, i) => start + i);
    const time = async (f: () => Promise<unknown>, reps: number) => {
      await f();
      const ms: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t = performance.now();
        await f();
        ms.push(performance.now() - t);
      }
      return median(ms);
    };
    const reps = Number(args.own.reps ?? (n >= 1024 ? 3 : 5));
    const full = await time(() => plain.denoiser.forward(canvas, positions), reps);
    cached.beginBlock(start - 1, start + window);
    const refresh = await time(async () => {
      cached.beginBlock(start - 1, start + window);
      await cached.forward(canvas, positions);
    }, reps);
    let k = 0;
    const step = await time(async () => {
      canvas[start + (k++ % window)] = pad; // a slot committed: the step graph runs, the cache stays
      await cached.forward(canvas, positions);
    }, reps * 2);
    rows.push({ context: n, fullForwardMs: +full.toFixed(1), refreshMs: +refresh.toFixed(1), stepMs: +step.toFixed(1) });
  }
  console.log(
    JSON.stringify(
      {
        model: model.manifest.name,
        loadMs: Math.round(loadMs),
        rssLoadedMiB: Math.round((rssLoaded - rss0) / 2 ** 20),
        rssAfterMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
        window,
        windowMargin: cached.windowMargin,
        rows,
      },
      null,
      1,
    ),
  );
  await model.dispose();
  await plain.dispose();
}

async function main() {
  const [mode] = args.positionals;
  if (mode === 'agreement') await agreement(args.model, args.limit);
  else if (mode === 'speed') await speed(args.model, args.own.lengths!.split(',').map(Number), Number(args.own.window));
  else throw new Error('usage: measure-cache.ts agreement|speed [--model DIR] [...] (--help for the options)');
}

run(main);
