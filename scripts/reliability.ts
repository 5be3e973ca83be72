// Reproduces the figures of docs/reliability.md on the real forked server and the bundled model:
//   npx tsx scripts/reliability.ts [--completions 10000] [--kills 20]
// 1. kill -9 of the server mid-decode, `kills` times: whether the request failed with a clear message, whether
//    the next one was served (by a new process), and the time from the kill to that next answer.
// 2. SIGSTOP of the server mid-decode, 5 times: the same, with the client's default-free liveness of 1 s.
// 3. `completions` completions in a row: failures, and the server's resident memory along the way.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelClient } from '../src/client/modelClient';
import type { CompleteRequest } from '../src/protocol';

const ROOT = path.resolve(__dirname, '..');
const LOAD = { modelDir: path.join(ROOT, 'models', 'default'), executionProvider: 'cpu' as const, threads: 1 };
const request = (slots: number): CompleteRequest => ({
  prefix: 'def fibonacci(n):\n    if n < 2:\n        return n\n    return ',
  suffix: '\n\n\nprint(fibonacci(10))\n',
  slots,
  singleLine: slots <= 8,
  policy: slots <= 8 ? { name: 'factor', f: 2 } : { name: 'sequential' },
  eotp: slots <= 8,
});
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function faults(signal: 'SIGKILL' | 'SIGSTOP', times: number): Promise<void> {
  const client = new ModelClient({
    serverModule: path.join(ROOT, 'src', 'server', 'main.ts'),
    execArgv: ['--import', 'tsx'],
    restartDelaysMs: [50, 50, 50],
    livenessIntervalMs: 200,
    livenessTimeoutMs: 1000,
  });
  await client.load(LOAD);
  let survived = 0;
  const recovery: number[] = [];
  const messages = new Set<string>();
  for (let i = 0; i < times; i++) {
    const pid = client.pid!;
    let at = 0;
    const inFlight = client.complete(request(64), undefined, () => {
      if (!at) {
        at = performance.now();
        process.kill(pid, signal);
      }
    });
    const failed = await inFlight.then(
      () => undefined,
      (e: Error) => e,
    );
    if (failed) messages.add(failed.message);
    try {
      const trace = await client.complete(request(4));
      if (failed && trace.stats.forwards >= 1 && client.pid !== pid) {
        survived++;
        recovery.push(performance.now() - at);
      }
    } catch (e) {
      messages.add(`next request failed: ${(e as Error).message}`);
    }
  }
  client.dispose();
  console.log(
    `${signal}: tried ${times}, survived ${survived}, time from the signal to the next answer: median ${median(recovery).toFixed(0)} ms,` +
      ` max ${Math.max(...recovery).toFixed(0)} ms`,
  );
  for (const m of messages) console.log(`  message: ${m}`);
}

async function soak(n: number): Promise<void> {
  const client = new ModelClient({ serverModule: path.join(ROOT, 'src', 'server', 'main.ts'), execArgv: ['--import', 'tsx'] });
  await client.load(LOAD);
  let failures = 0;
  const t0 = performance.now();
  const first = (await client.serverStats())!;
  console.log(`soak: server rss after load ${mib(first.rss)} MiB`);
  for (let i = 1; i <= n; i++) {
    try {
      await client.complete(request(8));
    } catch {
      failures++;
    }
    if (i % Math.max(1, Math.floor(n / 10)) === 0) {
      const s = (await client.serverStats())!;
      console.log(
        `soak: ${i} completions, ${failures} failures, server rss ${mib(s.rss)} MiB, ${s.forwards} forwards, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
      );
    }
  }
  client.dispose();
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { completions: { type: 'string', default: '10000' }, kills: { type: 'string', default: '20' } } });
  await faults('SIGKILL', Number(values.kills));
  await faults('SIGSTOP', 5);
  await soak(Number(values.completions));
}

void main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
