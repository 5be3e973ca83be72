// `npm run get-model -- NAME|OWNER/REPO [--revision REV] [--precision P] [--out DIR] [--mask-token TEXT]`: finds a
// checkpoint in the Hugging Face cache or downloads it there from the Hub (HF_ENDPOINT, HF_TOKEN or the token file),
// after the converter's checks passed on its config, tokenizer and safetensors headers; converts it to a model
// folder, checks it with a smoke forward and prints the folder. Progress goes to stderr, the folder alone to stdout.
import { parseArgs } from 'node:util';
import { DEFAULT_PRECISION, PRECISIONS, type Precision } from '../contract/precision';
import { formatBytes } from '../hub/bytes';
import { CATALOG } from '../hub/catalog';
import { getModel, type GetModelProgress } from '../hub/getModel';
import { hubCacheDir } from '../hub/hfCache';
import { DEFAULT_ENDPOINT } from '../hub/hubClient';
import { installCheckpoint, precheckCheckpoint } from '../hub/installStep';
import { defaultStorageDir } from '../hub/store';
import { runMain } from './runMain';

const USAGE = `usage: npm run get-model -- NAME|OWNER/REPO [options]
Downloads a code diffusion model from the Hugging Face Hub, converts it and prints its model folder
(use it with: npm run complete -- --model FOLDER ...).
Catalog (NAME):
${CATALOG.map(
  (e) =>
    `  ${e.name.padEnd(18)} ${e.repo} · ${e.parameters}B · download ${e.estimated.includes('downloadGB') ? '~' : ''}${e.downloadGB} GB, ` +
    `memory ~${e.memoryGB} GB · ${e.device === 'cpu' ? 'runs on a CPU' : 'GPU recommended'} · ${e.license.split(' ')[0]}`,
).join('\n')}
Options:
  --revision REV    branch, tag or commit (default: the catalog's, else main)
  --precision P     ${PRECISIONS.join(', ')} (default ${DEFAULT_PRECISION})
  --out DIR         the model folder to write (default: ${defaultStorageDir()}/models/NAME-PRECISION); a new or
                    empty folder, or a model folder Unmask wrote (anything else is refused, --force included)
  --mask-token TEXT the mask token, when the checkpoint names none (added to the tokenizer when it lacks it)
  --storage DIR     where models/ go (default: ${defaultStorageDir()})
  --delete-download delete the checkpoint from the Hugging Face cache once converted (kept by default: the
                    cache is shared with transformers, huggingface_hub and other tools)
  --force           skip the disk-space and memory checks, and replace a model folder at --out that Unmask
                    wrote of another repository
  -h, --help        this text
The checkpoint is read from and downloaded into the Hugging Face cache (now ${hubCacheDir()}: HF_HUB_CACHE,
else HF_HOME/hub, else ~/.cache/huggingface/hub); a commit already there is converted with nothing downloaded.
Before the weights are downloaded, config.json, the tokenizer and the safetensors headers are fetched and checked:
what the converter would refuse is refused then.
Environment: HF_ENDPOINT (a mirror; default ${DEFAULT_ENDPOINT}); HF_TOKEN, else the token file (HF_TOKEN_PATH,
else HF_HOME/token, as 'hf auth login' writes it) for gated or private repositories. The command line connects
directly (no proxy). An interrupted download resumes where it stopped when run again (huggingface_hub's partial
files too); what an interrupted install left is reclaimed then.`;

function progressLine(): (p: GetModelProgress) => void {
  let last = 0;
  let lastPhase = '';
  let lastLine = '';
  const write = (line: string, final: boolean) => {
    if (line === lastLine) return;
    lastLine = line;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100)}${final ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
  return (p) => {
    const now = Date.now();
    const changed = p.phase !== lastPhase;
    if (changed && lastPhase === 'download' && process.stderr.isTTY) process.stderr.write('\n');
    lastPhase = p.phase;
    if (p.phase === 'list') return write(`get-model: listing ${p.repo}`, true);
    if (p.phase === 'check') return write('get-model: smoke forward on the converted model', true);
    if (p.phase === 'cached') {
      return write(
        `get-model: the Hugging Face cache holds the whole checkpoint (${p.folder})${p.offline ? '; the Hub could not be reached, so the cached revision is used' : ''}: nothing to download`,
        true,
      );
    }
    if (p.phase === 'precheck') {
      return write(
        `get-model: fetched config.json, the tokenizer and ${p.files} safetensors header(s) (${formatBytes(p.bytes)}); the converter checks them before the weights`,
        true,
      );
    }
    const done = p.phase === 'download' ? p.bytes : p.done;
    const total = p.phase === 'download' ? p.total : p.total;
    const finished = done >= total;
    if (!changed && !finished && now - last < (process.stderr.isTTY ? 250 : 5000)) return;
    last = now;
    const width = 30;
    const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    if (p.phase === 'download') {
      const eta = p.secondsLeft !== undefined ? ` · ${formatDuration(p.secondsLeft)} left` : '';
      write(`download ${bar} ${formatBytes(p.bytes)} / ${formatBytes(p.total)} · ${formatBytes(p.rate)}/s${eta} · ${p.file}`, false);
    } else {
      write(`convert  ${bar} ${p.done}/${p.total}${p.message ? ` · ${p.message}` : ''}`, false);
    }
  };
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export async function main(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    options: {
      revision: { type: 'string' },
      precision: { type: 'string' },
      out: { type: 'string' },
      storage: { type: 'string' },
      'mask-token': { type: 'string' },
      'delete-download': { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (v.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new Error(
      `${positionals.length === 0 ? 'no model named' : `one model expected, got ${positionals.length}`}: name one, a catalog NAME (${CATALOG.map((e) => e.name).join(', ')}) ` +
        `or a Hub repository OWNER/NAME (npm run get-model -- --help says more)`,
    );
  }
  if (v.precision !== undefined && !PRECISIONS.includes(v.precision as Precision))
    throw new Error(`--precision ${v.precision}: expected one of ${PRECISIONS.join(', ')}`);
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nget-model: stopping; run the same command again to resume the download\n');
    controller.abort();
  });
  const got = await getModel({
    source: positionals[0],
    ...(v.revision ? { revision: v.revision } : {}),
    ...(v.precision ? { precision: v.precision as Precision } : {}),
    storageDir: v.storage ?? defaultStorageDir(),
    ...(v.out ? { outDir: v.out } : {}),
    ...(v['mask-token'] !== undefined ? { maskToken: v['mask-token'] } : {}),
    deleteDownload: v['delete-download'] ?? false,
    force: v.force ?? false,
    signal: controller.signal,
    onProgress: progressLine(),
    install: installCheckpoint,
    precheck: precheckCheckpoint,
  });
  const kept = v['delete-download'] ? 'deleted from the Hugging Face cache' : `kept in the Hugging Face cache: ${got.snapshot}`;
  process.stderr.write(
    `get-model: ${got.origin.repo} at ${got.origin.commit.slice(0, 12)} → ${got.name} (${formatBytes(got.received)} downloaded; the checkpoint ${kept})\n`,
  );
  process.stdout.write(`${got.folder}\n`);
  return 0;
}

if (require.main === module) runMain('get-model', () => main(process.argv.slice(2)));
