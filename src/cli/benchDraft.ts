// npm run bench:draft -- [--model DIR] [--tasks FILE|DIR] [--limit N] [--policies a,b,…] [--draft K|auto] [--cache|--no-cache] [--threads N]
// Decodes every task with each policy, then with the same policy under draft-and-verify, and says on how many tasks
// the text and the unmasking order are the same (all, by construction), the forwards of each and the wall time.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { checkDraft } from '../bench/draftCheck';
import { parseBenchPolicy } from '../bench/policyArg';
import { readTasks } from '../bench/tasks';
import { defaultModelDir, loadModel } from '../model';
import { runMain } from './runMain';

const USAGE = `npm run bench:draft -- [--model DIR] [--tasks FILE|DIR] [--limit N] [--policies sequential,threshold:0.9,factor:2]
                    [--draft K|auto] [--cache | --no-cache] [--threads N] [--json]
Each policy with and without lossless draft-and-verify on every task: same text and unmasking order, forwards, wall time.`;

async function main(): Promise<number> {
  const { values: v } = parseArgs({
    options: {
      model: { type: 'string' },
      tasks: { type: 'string' },
      limit: { type: 'string' },
      policies: { type: 'string' },
      draft: { type: 'string' },
      cache: { type: 'boolean' },
      'no-cache': { type: 'boolean' },
      threads: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const root = path.resolve(__dirname, '..', '..');
  const files = readTasks(v.tasks ?? path.join(root, 'bench', 'tasks'), v.limit ? Number(v.limit) : undefined);
  const draft = v.draft === undefined || v.draft === 'auto' ? 'auto' : Number(v.draft);
  if (draft !== 'auto' && !(Number.isInteger(draft) && draft >= 1)) throw new Error(`--draft must be an integer ≥ 1 or auto (got ${v.draft})`);
  const loaded = await loadModel(v.model ?? defaultModelDir(root), {
    threads: v.threads ? Number(v.threads) : 0,
    ...(v.cache ? { cache: true } : v['no-cache'] ? { cache: false } : {}),
  });
  try {
    const decoder = { ...loaded, cost: undefined };
    const cached = loaded.denoiser.constructor.name === 'CachedDenoiser';
    const rows = [];
    for (const p of (v.policies ?? 'sequential,threshold:0.9,factor:2').split(',')) {
      const r = await checkDraft(decoder, files, parseBenchPolicy(p), draft, (n) => process.stderr.write(`\r${p} ${n}`));
      process.stderr.write('\n');
      rows.push(r);
      process.stdout.write(
        v.json
          ? JSON.stringify({ model: loaded.info.name, cached, threads: loaded.info.threads, ...r }) + '\n'
          : `${loaded.info.name}${cached ? ' (cache)' : ''} ${r.policy}+draft${r.draft === 'auto' ? '(auto)' : r.draft}: same ${r.same}/${r.tasks}` +
              `${r.differ.length ? ` (differ: ${r.differ.join(' ')})` : ''}, forwards ${r.forwards} → ${r.forwardsDrafted} ` +
              `(${(r.forwards / Math.max(1, r.forwardsDrafted)).toFixed(3)}× fewer; ${r.acceptedSteps} steps from drafts), ` +
              `ms ${r.ms} → ${r.msDrafted} (${(r.ms / Math.max(1, r.msDrafted)).toFixed(3)}×)\n`,
      );
    }
    return rows.every((r) => r.same === r.tasks) ? 0 : 1;
  } finally {
    await loaded.dispose();
  }
}

runMain('bench:draft', main);
