// `npm run serve:parity -- [--server-url URL] [--tasks bench/tasks] [--limit N]`: every task decoded with the local
// model folder and through the team server; prints how many gave the same text (and the same steps), and each that did
// not. Without --server-url it starts one on the bundled model. The figure in docs/benchmarks.md ("Team server") is this.
import * as crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import { buildRequest, decode, DEFAULT_POLICY } from '../engine';
import { readTasks } from '../bench/tasks';
import { defaultModelDir, loadModel } from '../model';
import { launchServer, type LaunchedServer } from '../remote/launch';
import { openRemote } from '../remote/complete';
import { runMain } from './runMain';

export async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: { 'server-url': { type: 'string' }, tasks: { type: 'string', default: 'bench/tasks' }, limit: { type: 'string' }, model: { type: 'string' } },
  });
  const modelDir = v.model ?? defaultModelDir();
  let server: LaunchedServer | undefined;
  let url = v['server-url'];
  let token = process.env.UNMASK_SERVER_TOKEN;
  if (!url) {
    token = crypto.randomBytes(24).toString('hex');
    server = await launchServer({ modelDir, token });
    url = server.url;
  }
  const local = await loadModel(modelDir, { executionProvider: 'cpu', threads: 1 });
  try {
    const remote = await openRemote({ serverUrl: url, ...(token ? { token } : {}), timeoutMs: 60_000 });
    let same = 0;
    let total = 0;
    for (const file of readTasks(v.tasks!, v.limit ? Number(v.limit) : undefined)) {
      let sameHere = 0;
      for (const task of file.tasks) {
        const request = buildRequest({ before: task.prompt, after: task.suffix }, { policy: DEFAULT_POLICY, endOfTextPrediction: true }, file.singleLine);
        const a = await decode(local, request);
        const b = await decode(remote, request);
        const steps = (t: typeof a) => JSON.stringify(t.steps.map((s) => s.unmasked.map((u) => [u.slot, u.token, u.p])));
        if (a.result.text === b.result.text && steps(a) === steps(b)) sameHere++;
        else process.stdout.write(`differs: ${task.task_id}: local ${JSON.stringify(a.result.text)}, server ${JSON.stringify(b.result.text)}\n`);
      }
      process.stdout.write(`${file.name}: ${sameHere} of ${file.tasks.length} the same\n`);
      same += sameHere;
      total += file.tasks.length;
    }
    process.stdout.write(`all: ${same} of ${total} tasks gave the same text and steps through the server as the local folder\n`);
    return same === total ? 0 : 1;
  } finally {
    await local.dispose();
    await server?.stop();
  }
}

if (require.main === module) runMain('unmask serve:parity', () => main(process.argv.slice(2)));
