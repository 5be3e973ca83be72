// convert(): a checkpoint folder into a model folder (docs/model-contract.md). Everything is read and checked before
// anything is written; the folder is built beside the destination under a temporary name and renamed into place only
// when complete, so a failed or cancelled conversion never leaves something that looks like a model. No console
// output: progress goes to onProgress (the command line and the Get Model feature print it their own way).
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import defaults from '../engine/defaults.json';
import { BOUNDS, CHECKPOINT_FILE_LIMITS } from '../engine/bounds';
import { readBoundedBytes } from '../model/boundedFile';
import { MANIFEST_FILE, MANIFEST_FORMAT, parseManifest, TOKENIZER_FILE, type Manifest } from '../contract/manifest';
import { GRAPH } from '../contract/graph';
import { DEFAULT_PRECISION, PRECISIONS, type Precision } from '../contract/precision';
import { openCheckpoint, type Checkpoint } from './checkpoint';
import { FAMILIES } from './families';
import { isInside, realish } from './paths';
import { buildGraph, PRECISION_NOTE } from './graph';
import { CheckpointError } from './safetensors';
import type { TensorSource } from './spec';
import { checkpointError } from './tokenizerPrep';
import { CancelledError } from '../engine/types';

const GRAPH_FILE = GRAPH.file;
/** The longest canvas written into a manifest unless asked otherwise (the checkpoint's own may be far longer). */
export const DEFAULT_MAX_SEQUENCE = 2048;

export interface ConvertOptions {
  precision?: Precision;
  /** The mask token's text when the checkpoint names none; added as a special token when the tokenizer lacks it. */
  maskToken?: string;
  /** The manifest's name (default: the checkpoint's _name_or_path, else its folder's name). */
  name?: string;
  /** The manifest's maxSequence, at most the checkpoint's own (default DEFAULT_MAX_SEQUENCE). */
  maxSequence?: number;
  /**
   * Replace `outDir` when it exists (it is replaced only once the new folder is complete); only a model folder
   * (one holding unmask.json) or an empty one is replaced, never a folder of the user's or the checkpoint.
   */
  replace?: boolean;
  /** Lines worth telling the user (a partial folder of a stopped conversion that was removed). */
  onNote?: (line: string) => void;
  /** done of total steps (reading, each weight group of the graph, the folder's other files). */
  onProgress?: (done: number, total: number, message?: string) => void;
  /** Cancels between two tensors; the partial folder is removed and the promise rejects with a CancelledError. */
  signal?: AbortSignal;
  /**
   * Write straight into `outDir`, which must be an empty folder (or absent), with no partial folder and no rename of
   * the converter's own: for a caller that stages the folder itself and renames it once when it is ready (Get Model's
   * install step, after its smoke forward). On failure or cancellation the files written stay for that caller to
   * remove with its staging folder.
   */
  inPlace?: boolean;
}

export interface ConvertResult {
  folder: string;
  manifest: Manifest;
  /** Size of each file of the folder. */
  bytes: Record<string, number>;
  checkpoint: Pick<Checkpoint, 'spec' | 'tokens' | 'checkpointVocab' | 'parameters' | 'addedMask' | 'tokenizerConverted'>;
}

export async function convert(checkpointDir: string, outDir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const precision = options.precision ?? DEFAULT_PRECISION;
  if (!PRECISIONS.includes(precision)) {
    throw new CheckpointError('--precision', `is ${JSON.stringify(precision)}; expected one of ${PRECISIONS.join(', ')}`, 'precision');
  }
  const out = resolve(outDir);
  checkApart(resolve(checkpointDir), out);
  if (existsSync(out) || isLink(out)) {
    const empty = isDirectory(out) && readdirSync(out).length === 0;
    if (options.inPlace && (!empty || isLink(out)))
      throw new CheckpointError(out, 'is not an empty folder: a conversion in place writes only into an empty one');
    if (!empty && !options.replace) throw new CheckpointError(out, 'already exists (pass --force to replace it)');
    // --force replaces what Unmask wrote, nothing else: a folder of the user's, a file or a link is left alone
    if (!empty && !(isDirectory(out) && !isLink(out) && isFile(join(out, MANIFEST_FILE)))) {
      throw new CheckpointError(
        out,
        `already exists and is not a model folder (it has no ${MANIFEST_FILE}); --force replaces only a folder that Unmask wrote: choose another --out or remove it yourself`,
      );
    }
  }
  const { signal, onProgress } = options;
  const throwIfCancelled = () => {
    if (signal?.aborted) throw new CancelledError(`conversion of ${checkpointDir} cancelled`);
  };
  throwIfCancelled();

  const ckpt = await openCheckpoint(checkpointDir, { maskToken: options.maskToken });
  const { spec, tokens, config } = ckpt;
  const maxSequence = Math.min(spec.maxPositions, options.maxSequence ?? DEFAULT_MAX_SEQUENCE, BOUNDS.maxSequence.max);
  if (maxSequence < BOUNDS.maxSequence.min) {
    throw new CheckpointError(ckpt.configFile, `the longest canvas is ${maxSequence} tokens; a model folder needs at least ${BOUNDS.maxSequence.min}`);
  }
  const name = options.name ?? displayName(config, ckpt.dir);
  const slots = defaults.slots;
  for (const [k, v] of Object.entries(slots)) {
    if (v >= maxSequence) throw new CheckpointError(ckpt.configFile, `the longest canvas (${maxSequence} tokens) leaves no room for ${v} ${k} slots`);
  }
  const graphSteps = spec.layers + 2; // buildGraph's progress: the embedding, each layer, the head
  const total = 1 + graphSteps + 1;
  onProgress?.(1, total, `read ${basename(ckpt.dir)}: ${spec.family} (${spec.modelType}), ${spec.layers} layers, hidden ${spec.hidden}`);
  throwIfCancelled();

  // a cancellation point before every tensor: buildGraph reads them one at a time
  const tensors: TensorSource = {
    has: (n) => ckpt.tensors.has(n),
    shape: (n) => ckpt.tensors.shape(n),
    read: async (n) => {
      throwIfCancelled();
      return ckpt.tensors.read(n);
    },
  };

  const parent = dirname(out);
  mkdirSync(parent, { recursive: true });
  if (options.inPlace) mkdirSync(out, { recursive: true });
  else reclaimStale(parent, options.onNote);
  // in place: the caller's staging folder; else the writer's pid in the name, so the next conversion removes it when
  // that process is gone (killed, power lost)
  const tmp = options.inPlace ? out : mkdtempSync(join(parent, `.${basename(out)}.partial-${process.pid}-`));
  let manifest: Manifest;
  try {
    await buildGraph(spec, tensors, {
      precision,
      graphFile: join(tmp, GRAPH_FILE),
      onProgress: (done) => onProgress?.(1 + done, total, done === graphSteps ? 'graph written' : `weights ${done} of ${graphSteps}`),
    });
    throwIfCancelled();

    // the checkpoint's own file when it is used as it is, byte for byte
    if (ckpt.tokenizerConverted || ckpt.addedMask) writeFileSync(join(tmp, TOKENIZER_FILE), JSON.stringify(ckpt.tokenizerJson, null, 2) + '\n');
    else writeFileSync(join(tmp, TOKENIZER_FILE), readBoundedBytes(ckpt.tokenizerFile, { limit: CHECKPOINT_FILE_LIMITS.tokenizer, error: checkpointError }));

    manifest = {
      format: MANIFEST_FORMAT,
      name,
      architecture: `bidirectional-${spec.family}`,
      vocabSize: spec.vocabSize,
      maxSequence,
      topK: GRAPH.topK,
      tokens,
      slots,
      logitsShift: spec.logitsShift,
      files: { model: GRAPH_FILE, tokenizer: TOKENIZER_FILE },
      // the family's default (familyTable.json): pretrained models decode with the dual cache, Fast-dLLM's setting for them
      // (refreshed once per block); the bundled model's near-tie predictions need the uncached forward (docs/benchmarks.md),
      // and scripts/make-default-model.ts keeps its manifest's choice
      ...(FAMILIES[spec.family].cache ? { cache: {} } : {}),
      vocabDigest: ckpt.tokenizer.vocabDigest(),
      license: typeof config.license === 'string' ? config.license : "see the checkpoint's own licence",
      training: config.training ?? { tokens: 0, corpus: 'pretrained checkpoint (see its own model card)' },
      ...{
        precision: PRECISION_NOTE[precision],
        parameters: ckpt.parameters,
        source: {
          checkpoint: basename(ckpt.dir),
          modelType: spec.modelType,
          spec,
          checkpointVocab: ckpt.checkpointVocab,
          ...(ckpt.addedMask ? { addedMaskToken: options.maskToken } : {}),
          ...(ckpt.tokenizerConverted ? { tokenizerConvertedFrom: 'vocab.json + merges.txt' } : {}),
        },
      },
    };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    parseManifest(manifestText, join(out, MANIFEST_FILE)); // what the loader will read: refused here rather than there
    writeFileSync(join(tmp, MANIFEST_FILE), manifestText);
    writeFileSync(join(tmp, 'README.md'), card(manifest, ckpt, precision, sizes(tmp)));

    // mkdtemp makes the folder private; a model folder is meant to be readable like any other
    const umask = process.umask();
    chmodSync(tmp, 0o777 & ~umask);
    for (const f of readdirSync(tmp)) chmodSync(join(tmp, f), 0o666 & ~umask);
    throwIfCancelled();
    if (options.inPlace) {
      // nothing to move: the caller renames its staging folder once, when it is ready
    } else if (existsSync(out)) {
      // hidden and named by this process, as the partial folder: reclaimed by the next conversion if this one is killed here
      const old = join(parent, `.${basename(out)}.old-${process.pid}`);
      renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, out);
    }
  } catch (e) {
    if (!options.inPlace) rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const bytes = sizes(out);
  onProgress?.(total, total, `wrote ${out}`);
  return {
    folder: out,
    manifest,
    bytes,
    checkpoint: {
      spec,
      tokens,
      checkpointVocab: ckpt.checkpointVocab,
      parameters: ckpt.parameters,
      addedMask: ckpt.addedMask,
      tokenizerConverted: ckpt.tokenizerConverted,
    },
  };
}

const isLink = (p: string) => {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};
const isDirectory = (p: string) => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const isFile = (p: string) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};

/** The model folder may not be the checkpoint, inside it or hold it: replacing it would delete the checkpoint. */
function checkApart(checkpoint: string, out: string): void {
  const [c, o] = [realish(checkpoint), realish(out)];
  const why =
    c === o ? 'is the checkpoint folder' : isInside(o, c) ? 'is inside the checkpoint folder' : isInside(c, o) ? 'holds the checkpoint folder' : undefined;
  if (why) throw new CheckpointError(out, `${why} ${checkpoint}; the model folder must be written elsewhere (--out)`, 'out');
}

/** Files a conversion writes into its partial folder: a stale one holding anything else is not ours to remove. */
const PARTIAL_FILES = new Set([GRAPH_FILE, GRAPH.weightsFile(GRAPH_FILE), TOKENIZER_FILE, MANIFEST_FILE, 'README.md']);
const LEFT_NAME = /^\..+\.(partial|old)-(\d+)(-[A-Za-z0-9]{6})?$/;

/** Whether process `pid` is running (EPERM: it is, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the partial folders of conversions in `parent` whose process is gone (a killed conversion left one of
 * 205 MB that nothing removed), and says so; those of running conversions, and anything else, are left alone.
 */
export function reclaimStale(parent: string, onNote?: (line: string) => void): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = LEFT_NAME.exec(name);
    if (!m || (m[1] === 'partial') !== (m[3] !== undefined)) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || alive(pid)) continue;
    const dir = join(parent, name);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory()) continue;
      const files = readdirSync(dir);
      // a partial folder holds only what a conversion writes; an old one (replaced by --force) is a model folder
      const ours =
        m[1] === 'partial'
          ? files.every((f) => PARTIAL_FILES.has(f) && lstatSync(join(dir, f)).isFile())
          : files.includes(MANIFEST_FILE) && files.every((f) => lstatSync(join(dir, f)).isFile());
      if (!ours) continue;
      const bytes = files.reduce((n, f) => n + lstatSync(join(dir, f)).size, 0);
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
      onNote?.(`removed ${dir} (${(bytes / 2 ** 20).toFixed(1)} MiB), left by a conversion that stopped (process ${pid} is gone)`);
    } catch {
      // another conversion reclaiming it at the same time, or not ours to read: left as it is
    }
  }
  return removed;
}

function displayName(config: Record<string, unknown>, dir: string): string {
  const n = typeof config._name_or_path === 'string' ? config._name_or_path.replace(/\/+$/, '').split('/').pop() : undefined;
  return n || basename(dir);
}

function sizes(dir: string): Record<string, number> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, statSync(join(dir, f)).size]),
  );
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** README.md: what the folder is and where it came from (the checkpoint's own card has its data, licence and quality). */
function card(m: Manifest, ckpt: Checkpoint, precision: Precision, files: Record<string, number>): string {
  const s = ckpt.spec;
  const cut =
    ckpt.checkpointVocab > s.vocabSize
      ? `The checkpoint's embedding has ${ckpt.checkpointVocab} rows; the ${ckpt.checkpointVocab - s.vocabSize} beyond the tokenizer's ${s.vocabSize} ` +
        "tokens (padding, never a token) are left out, so the softmax is over the tokenizer's vocabulary.\n\n"
      : '';
  const added = ckpt.addedMask
    ? `The mask token ${JSON.stringify(ckpt.tokenizer.idToToken(m.tokens.mask))} was added to the tokenizer (id ${m.tokens.mask}).\n\n`
    : '';
  const converted = ckpt.tokenizerConverted
    ? "tokenizer.json was converted from the checkpoint's vocab.json and merges.txt (byte-level BPE as Qwen2's).\n\n"
    : '';
  return `# ${m.name} (converted for Unmask)

Converted by \`npm run convert\` from the checkpoint \`${basename(ckpt.dir)}\` (model_type \`${s.modelType}\`). Its weights,
training data, licence and measured quality are those of the original checkpoint: read its own model card. Licence
field of its config: ${m.license}.

| | |
| --- | --- |
| family | ${s.family}, bidirectional attention (no causal mask) |
| layers, hidden, heads (query/key-value), head size, MLP | ${s.layers}, ${s.hidden}, ${s.heads}/${s.kvHeads}, ${s.headDim}, ${s.intermediate} (${s.mlp}) |
| norm | ${s.norm === 'rms' ? 'RMSNorm' : 'LayerNorm'} (eps ${s.normEps}) |
| parameters | ${(ckpt.parameters / 1e6).toFixed(1)}M |
| vocabulary | ${s.vocabSize} |
| special tokens | mask ${m.tokens.mask}, pad ${m.tokens.pad}, eos ${m.tokens.eos}, bos ${m.tokens.bos} |
| logitsShift | ${m.logitsShift} (${m.logitsShift ? 'prediction for position i read at row i − 1' : 'prediction read at its own row'}) |
| maxSequence | ${m.maxSequence} |
| precision | ${PRECISION_NOTE[precision]} |

${cut}${added}${converted}| file | size |
| --- | --- |
${Object.entries(files)
  .map(([f, b]) => `| \`${f}\` | ${mib(b)} |`)
  .join('\n')}
`;
}
