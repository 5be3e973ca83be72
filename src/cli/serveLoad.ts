// `npm run serve:load -- [--server-url URL] [--editors 1,4,8] [--requests 16] [--tasks FILE]` (serve/README.md, "Load
// test"): simulated editors against one server. The same completions (the first --requests tasks of the file, no time
// budget) are sent by 1, 4 and 8 editors at once; completions per second, p50/p95 latency and the batch sizes the server
// formed (its /unmask/v1/stats) per row. Without --server-url it starts one on the bundled model (one replica).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { buildRequest, decode, DEFAULT_POLICY } from '../engine';
import { percentile } from '../bench/metrics';
import { readTasks } from '../bench/tasks';
import { defaultModelDir, loadModel } from '../model';
import { KServeClient } from '../remote/kserve';
import { launchServer, type LaunchedServer } from '../remote/launch';
import { openRemote } from '../remote/complete';
import { runMain } from './runMain';

interface Row {
  editors: number;
  completions: number;
  wallS: number;
  perSecond: number;
  p50Ms: number;
  p95Ms: number;
  forwards: number;
  batches: Record<string, number>;
  meanBatch: number;
}

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      'server-url': { type: 'string' },
      editors: { type: 'string', default: '1,4,8' },
      requests: { type: 'string', default: '16' },
      tasks: { type: 'string', default: 'bench/tasks/python-single-line.jsonl' },
      model: { type: 'string' },
      out: { type: 'string' },
      'no-local': { type: 'boolean' },
    },
  });
  let server: LaunchedServer | undefined;
  let url = v['server-url'];
  let token = process.env.UNMASK_SERVER_TOKEN;
  if (!url) {
    token = crypto.randomBytes(24).toString('hex');
    process.stderr.write('starting a server on the bundled model (one replica)…\n');
    server = await launchServer({ modelDir: v.model ?? defaultModelDir(), token });
    url = server.url;
  }
  try {
    const model = await openRemote({ serverUrl: url, ...(token ? { token } : {}), timeoutMs: 120_000 });
    const client = new KServeClient({ url, ...(token ? { token } : {}) });
    const [file] = readTasks(v.tasks!, Number(v.requests));
    const requests = file.tasks.map((t) =>
      buildRequest({ before: t.prompt, after: t.suffix }, { policy: DEFAULT_POLICY, endOfTextPrediction: true }, file.singleLine),
    );
    const once = async (i: number) => {
      const t0 = performance.now();
      const trace = await decode(model, requests[i % requests.length]);
      return { ms: performance.now() - t0, forwards: trace.stats.forwards };
    };
    await once(0); // warm-up
    const rows: Row[] = [];
    for (const editors of v.editors!.split(',').map(Number)) {
      const before = (await client.get<{ batches: Record<string, number> }>('/unmask/v1/stats')).batches;
      const latencies: number[] = [];
      let forwards = 0;
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: editors }, async () => {
          while (next < requests.length) {
            const r = await once(next++);
            latencies.push(r.ms);
            forwards += r.forwards;
          }
        }),
      );
      const wallS = (performance.now() - t0) / 1000;
      const after = (await client.get<{ batches: Record<string, number> }>('/unmask/v1/stats')).batches;
      const batches: Record<string, number> = {};
      let n = 0;
      let rowsServed = 0;
      for (const [size, count] of Object.entries(after)) {
        const d = count - (before[size] ?? 0);
        if (d > 0) {
          batches[size] = d;
          n += d;
          rowsServed += d * Number(size);
        }
      }
      rows.push({
        editors,
        completions: requests.length,
        wallS,
        perSecond: requests.length / wallS,
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
        forwards,
        batches,
        meanBatch: n ? rowsServed / n : 0,
      });
      const r = rows.at(-1)!;
      process.stderr.write(`${editors} editors: ${r.perSecond.toFixed(2)} completions/s, p50 ${Math.round(r.p50Ms)} ms, p95 ${Math.round(r.p95Ms)} ms\n`);
    }
    // the same completions one after another in this process with the local folder (one thread): the server's overhead
    let localLine = '';
    if (!v['no-local']) {
      const local = await loadModel(v.model ?? defaultModelDir(), { executionProvider: 'cpu', threads: 1 });
      try {
        await decode(local, requests[0]);
        const t0 = performance.now();
        const ms: number[] = [];
        for (const r of requests) {
          const t = performance.now();
          await decode(local, r);
          ms.push(performance.now() - t);
        }
        const wallS = (performance.now() - t0) / 1000;
        localLine = `| local folder, in process (1 thread) | ${requests.length} | | ${wallS.toFixed(1)} | ${(requests.length / wallS).toFixed(2)} | | ${Math.round(percentile(ms, 50))} | ${Math.round(percentile(ms, 95))} | | |`;
      } finally {
        await local.dispose();
      }
    }
    const base = rows.find((r) => r.editors === 1)?.perSecond;
    const table = [
      '| editors | completions | forwards | wall s | completions/s | vs 1 editor | p50 ms | p95 ms | batches formed (size×count) | mean batch |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.editors} | ${r.completions} | ${r.forwards} | ${r.wallS.toFixed(1)} | ${r.perSecond.toFixed(2)} | ${base ? `${(r.perSecond / base).toFixed(2)}×` : ''} | ` +
          `${Math.round(r.p50Ms)} | ${Math.round(r.p95Ms)} | ${Object.entries(r.batches)
            .map(([s, c]) => `${s}×${c}`)
            .join(', ')} | ${r.meanBatch.toFixed(2)} |`,
      ),
      ...(localLine ? [localLine] : []),
    ].join('\n');
    process.stdout.write(`${table}\n`);
    if (v.out) fs.writeFileSync(v.out, JSON.stringify({ url: server ? 'started here (bundled model)' : url, tasks: v.tasks, rows }, null, 1) + '\n');
    return 0;
  } finally {
    await server?.stop();
  }
}

if (require.main === module) runMain('unmask serve:load', () => main(process.argv.slice(2)));
