// unmask.json, format 2 (docs/model-contract.md): the manifest's type, parsing and the checks that need neither the graph
// nor the tokenizer. Part of the contract: the converter writes it, the loader and the team server's client read it.
import { BOUNDS, type BoundName } from '../engine/bounds';
import type { ModelSpec, SpecialTokens } from '../engine/types';
import contract from './contract.json';

/** The manifest format this version reads: 2, the one graph with its weights beside it (format 1 had a second graph). */
export const MANIFEST_FORMAT = contract.manifest.format as 2;

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  name: string;
  architecture?: string;
  vocabSize: number;
  maxSequence: number;
  topK: number;
  tokens: SpecialTokens;
  logitsShift: number;
  /** Slot budgets for this model; absent: the engine's defaults (src/engine/defaults.json). */
  slots?: { singleLine: number; multiLine: number };
  /**
   * `model`: the graph (its weights in `<model>.data` beside it); `filter`: the learned unmasking filter graph
   * (docs/model-contract.md), optional; without it the `learned` policy is unavailable.
   */
  files: { model: string; tokenizer: string; filter?: string };
  /** The signal names the filter graph was trained on, in input order (must equal src/engine/signals.ts FEATURE_NAMES). */
  filterFeatures?: string[];
  /**
   * The dual cache (docs/model-contract.md, "Dual cache"), optional: present, the model decodes with it by default
   * (every graph can; this says the model should) with this refresh rule.
   */
  cache?: {
    /**
     * The model's refresh rule: at most this many window forwards between two refreshes of the cache; absent:
     * once per block only. A model whose predictions are near ties needs fresh keys often (docs/benchmarks.md).
     */
    stepsPerRefresh?: number;
    /**
     * Rows of the prefix and of the suffix next to the open block that each step recomputes with the block (their
     * keys then follow each commit); absent: 0, the block's rows only.
     */
    windowMargin?: number;
  };
  /**
   * "sha256:" and the hex digest of the tokenizer's vocabulary, id by id (docs/model-contract.md, "Manifest", vocabDigest),
   * optional: written by the exporters, so that a tokenizer.json with the right size but other ids is refused.
   */
  vocabDigest?: string;
  license?: string;
  training?: unknown;
  /**
   * The rotary base the graph was built with, read from the converter's record `source.spec.ropeTheta`; absent: not
   * known, so a cache reuses keys only at their own positions (model/kvReuse.ts moves the others by rotating them).
   */
  ropeTheta?: number;
}

export const MANIFEST_FILE = contract.manifest.file;
/** The tokenizer's file name in a folder the converter writes (a manifest may name another). */
export const TOKENIZER_FILE = contract.tokenizerFile;

/** A model folder that cannot be used; the message names the file and the field. */
export class ModelFolderError extends Error {
  override readonly name = 'ModelFolderError';
  constructor(
    readonly file: string,
    message: string,
    readonly field?: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** The manifest facts the engine needs (a local folder's and a team server's model alike). */
export function modelSpecOf(m: Manifest): ModelSpec {
  return {
    name: m.name,
    maxSequence: m.maxSequence,
    logitsShift: m.logitsShift,
    tokens: m.tokens,
    ...(m.slots ? { slots: m.slots } : {}),
  };
}

/** Parses and checks the manifest's own fields; `file` names it in errors. */
export function parseManifest(text: string, file: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(
      file,
      `not valid JSON (${
        /end of JSON input|Unterminated/i.test((e as Error).message)
          ? 'it ends early'
          : /position (\d+)/.test((e as Error).message)
            ? `unexpected character at byte ${/position (\d+)/.exec((e as Error).message)![1]}`
            : 'unexpected content'
      })`,
    );
  }
  if (!isObject(raw)) throw new ModelFolderError(file, 'expected a JSON object');
  const fail = (field: string, expected: string, value: unknown): never => {
    throw new ModelFolderError(file, `field "${field}" is ${JSON.stringify(value) ?? 'missing'}, expected ${expected}`, field);
  };
  const int = (obj: Record<string, unknown>, field: string, path: string, min: number): number => {
    const v = obj[field];
    return typeof v === 'number' && Number.isInteger(v) && v >= min ? v : fail(path, `an integer ≥ ${min}`, v);
  };
  const str = (obj: Record<string, unknown>, field: string, path: string): string => {
    const v = obj[field];
    return typeof v === 'string' && v.length > 0 ? v : fail(path, 'a non-empty string', v);
  };

  if (raw.format === 1) {
    throw new ModelFolderError(
      file,
      'field "format" is 1: this folder was written by the old Python exporters (a second graph for the ' +
        'cache, each graph holding the weights); convert its checkpoint again with `npm run convert -- CHECKPOINT_DIR --out MODEL_DIR`',
      'format',
    );
  }
  if (raw.format !== MANIFEST_FORMAT) fail('format', `${MANIFEST_FORMAT} (this version of Unmask reads manifest format ${MANIFEST_FORMAT})`, raw.format);
  const name = str(raw, 'name', 'name');
  const bounded = (field: BoundName & keyof typeof raw): number => {
    const v = raw[field];
    const b = BOUNDS[field];
    return typeof v === 'number' && Number.isInteger(v) && v >= b.min && v <= b.max ? v : fail(field, `an integer from ${b.min} to ${b.max}`, v);
  };
  const vocabSize = bounded('vocabSize');
  const maxSequence = bounded('maxSequence');
  const topK = bounded('topK');
  const logitsShift = raw.logitsShift === undefined ? 0 : int(raw, 'logitsShift', 'logitsShift', 0);
  if (logitsShift > 1) fail('logitsShift', '0 or 1', logitsShift);

  if (!isObject(raw.tokens)) fail('tokens', 'an object { mask, pad, eos, bos }', raw.tokens);
  const t = raw.tokens as Record<string, unknown>;
  const tokenId = (role: string, nullable: boolean): number | null => {
    const v = t[role];
    if (nullable && (v === null || v === undefined)) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
      fail(`tokens.${role}`, `a token id in 0…${vocabSize - 1}${nullable ? ' or null' : ''}`, v);
    }
    return v as number;
  };
  const tokens: SpecialTokens = { mask: tokenId('mask', false)!, pad: tokenId('pad', false)!, eos: tokenId('eos', false)!, bos: tokenId('bos', true) };
  if (tokens.mask === tokens.pad || tokens.mask === tokens.eos) {
    fail('tokens.mask', 'an id different from pad and eos', tokens.mask);
  }

  if (!isObject(raw.files)) fail('files', 'an object { model, tokenizer }', raw.files);
  const f = raw.files as Record<string, unknown>;
  const files: Manifest['files'] = {
    model: str(f, 'model', 'files.model'),
    tokenizer: str(f, 'tokenizer', 'files.tokenizer'),
    ...(f.filter !== undefined ? { filter: str(f, 'filter', 'files.filter') } : {}),
  };
  if (raw.filterFeatures !== undefined && !(Array.isArray(raw.filterFeatures) && raw.filterFeatures.every((x) => typeof x === 'string'))) {
    fail('filterFeatures', 'a list of signal names', raw.filterFeatures);
  }
  for (const [k, v] of Object.entries(files)) {
    // a name, not a path: no separator, not "." or ".." (but "model..onnx" is a fine name)
    if (v.includes('/') || v.includes('\\') || v === '.' || v === '..' || v.includes('\0')) fail(`files.${k}`, 'a file name inside the model folder', v);
  }

  let cache: Manifest['cache'];
  if (raw.cache !== undefined) {
    if (!isObject(raw.cache)) fail('cache', 'an object { stepsPerRefresh?, windowMargin? }', raw.cache);
    const c = raw.cache as Record<string, unknown>;
    cache = {
      ...(c.stepsPerRefresh !== undefined ? { stepsPerRefresh: int(c, 'stepsPerRefresh', 'cache.stepsPerRefresh', 1) } : {}),
      ...(c.windowMargin !== undefined ? { windowMargin: int(c, 'windowMargin', 'cache.windowMargin', 0) } : {}),
    };
  }

  if (raw.vocabDigest !== undefined && !(typeof raw.vocabDigest === 'string' && /^sha256:[0-9a-f]{64}$/.test(raw.vocabDigest))) {
    fail('vocabDigest', '"sha256:" and 64 hex digits', raw.vocabDigest);
  }

  let slots: Manifest['slots'];
  if (raw.slots !== undefined) {
    if (!isObject(raw.slots)) fail('slots', 'an object { singleLine, multiLine }', raw.slots);
    const s = raw.slots as Record<string, unknown>;
    slots = { singleLine: int(s, 'singleLine', 'slots.singleLine', 1), multiLine: int(s, 'multiLine', 'slots.multiLine', 1) };
    for (const [k, v] of Object.entries(slots)) if (v >= maxSequence) fail(`slots.${k}`, `fewer than maxSequence (${maxSequence})`, v);
  }

  const source = isObject(raw.source) ? (raw.source as Record<string, unknown>) : {};
  const theta = isObject(source.spec) ? (source.spec as Record<string, unknown>).ropeTheta : undefined;
  const ropeTheta = typeof theta === 'number' && Number.isFinite(theta) && theta > 1 ? theta : undefined;

  return {
    ...(raw as object),
    ropeTheta,
    format: MANIFEST_FORMAT,
    name,
    ...(slots ? { slots } : {}),
    ...(cache ? { cache } : {}),
    vocabSize,
    maxSequence,
    topK,
    tokens,
    logitsShift,
    files,
  } as Manifest;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
