// Each held-out task's completion, one JSON line per task ({file, id, text, forwards}), to compare two model folders
// task by task (npm run bench reports only the sums):
//   npx tsx scripts/completions-by-task.ts MODEL_DIR [--limit N] [--policy sequential] [--code REPO]
// --code REPO decodes with another checkout's src/ (e.g. `git archive COMMIT src | tar -x -C /tmp/old` with
// /tmp/old/node_modules linked to this one's), for a folder only that version's loader reads.
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    limit: { type: 'string', default: '25' },
    policy: { type: 'string', default: 'sequential' },
    code: { type: 'string' },
    threads: { type: 'string', default: '1' },
  },
});
const ROOT = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const code = path.resolve(values.code ?? ROOT);
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { loadModel } = require(path.join(code, 'src', 'model'));
  const { buildRequest, decode } = require(path.join(code, 'src', 'engine'));
  const { readTasks } = require(path.join(code, 'src', 'bench', 'tasks'));
  const { parseBenchPolicy } = require(path.join(code, 'src', 'bench', 'policyArg'));
  if (!positionals[0]) throw new Error('usage: completions-by-task.ts MODEL_DIR [--limit N] [--policy NAME] [--code REPO]');
  const model = await loadModel(path.resolve(positionals[0]), { executionProvider: 'cpu', threads: Number(values.threads) });
  const policy = parseBenchPolicy(values.policy);
  for (const file of readTasks(path.join(ROOT, 'bench', 'tasks'), Number(values.limit))) {
    for (const task of file.tasks) {
      const trace = await decode(model, {
        ...buildRequest({ before: task.prompt, after: task.suffix }, { policy: policy.spec, endOfTextPrediction: policy.eotp }, file.singleLine),
        ...(policy.blockSize ? { blockSize: policy.blockSize } : {}),
      });
      console.log(JSON.stringify({ file: file.name, id: task.task_id, text: trace.result.text, forwards: trace.stats.forwards }));
    }
  }
  await model.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
