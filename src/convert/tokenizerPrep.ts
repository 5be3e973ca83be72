// The checkpoint's tokenizer as the model folder will hold it: tokenizer.json (converted from a slow Qwen2 tokenizer's
// vocab.json + merges.txt when that is all there is), and the special token ids of the manifest, with a mask token
// added when the user names one the tokenizer lacks.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CodeTokenizer } from '../model/tokenizer';
import type { SpecialTokens } from '../engine/types';
import { CheckpointError } from './safetensors';
import { JSON_BUDGET, TOKENIZER_BUDGET, type JsonBudget } from '../model/jsonBudget';
import { readBoundedText, readBoundedJson, type FileErrorFactory } from '../model/boundedFile';
import { CHECKPOINT_FILE_LIMITS } from '../engine/bounds';
import { TOKENIZER_FILE } from '../contract/manifest';

/** Mask tokens of the published checkpoints, tried in this order when config.json names no mask_token_id. */
export const MASK_NAMES = ['<|mask|>', '<M>', '<|mdm_mask|>', '<mask>', '[MASK]'];
/** DiffuCoder pads its slots with its own pad token; others pad with pad_token_id or end-of-text. */
export const PAD_NAMES = ['<|dlm_pad|>'];
/** Slow tokenizers whose vocab.json + merges.txt are Qwen2's byte-level BPE (Dream's is a copy of Qwen2's). */
const QWEN2_SLOW = ['Qwen2Tokenizer', 'Qwen2TokenizerFast', 'DreamTokenizer'];
// Qwen2's pre-tokenizer split (its tokenizer.json and transformers' conversion of the slow tokenizer write this one)
const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}
export interface TokenizerJson {
  added_tokens?: AddedToken[];
  model: { vocab?: Record<string, number> | [string, number][] };
  [k: string]: unknown;
}

/** The converter's errors for the one bounded reader (src/model/boundedFile.ts). */
export const checkpointError: FileErrorFactory = (file, message, field) => new CheckpointError(file, message, field);

/**
 * A JSON object of the checkpoint: a regular file within `limit` bytes and `budget`, parsed; the error names the file
 * and what is wrong, never its content (a link may point at any file).
 */
export function readJson(path: string, what: string, limit: number = CHECKPOINT_FILE_LIMITS.config, budget: JsonBudget = JSON_BUDGET): Record<string, unknown> {
  if (!existsSync(path)) throw new CheckpointError(path, `missing (${what})`);
  const v = readBoundedJson(path, { limit, budget, limitOf: what, error: checkpointError });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CheckpointError(path, `expected a JSON object (${what})`);
  return v as Record<string, unknown>;
}

/** tokenizer.json of the checkpoint, or the one converted from a slow Qwen2 tokenizer; `converted` says which. */
export function loadTokenizerJson(dir: string): { json: TokenizerJson; file: string; converted: boolean } {
  const file = join(dir, TOKENIZER_FILE);
  if (existsSync(file)) {
    const json = readJson(file, 'the tokenizer', CHECKPOINT_FILE_LIMITS.tokenizer, TOKENIZER_BUDGET);
    if (typeof json.model !== 'object' || json.model === null)
      throw new CheckpointError(file, 'field "model" is missing: not a Hugging Face tokenizer.json', 'model');
    return { json: json as TokenizerJson, file, converted: false };
  }
  const vocabFile = join(dir, 'vocab.json');
  const mergesFile = join(dir, 'merges.txt');
  const configFile = join(dir, 'tokenizer_config.json');
  const howTo =
    'make one with transformers on any machine: python -c "from transformers import AutoTokenizer as T; ' +
    `T.from_pretrained('${dir}').save_pretrained('${dir}')"`;
  if (!existsSync(vocabFile) || !existsSync(mergesFile)) {
    throw new CheckpointError(file, `missing, and there is no vocab.json + merges.txt to convert (${howTo})`);
  }
  const tc = existsSync(configFile) ? readJson(configFile, 'the tokenizer config', CHECKPOINT_FILE_LIMITS.tokenizerConfig) : {};
  const cls = String(tc.tokenizer_class ?? '');
  if (!QWEN2_SLOW.includes(cls)) {
    throw new CheckpointError(
      file,
      `missing; vocab.json + merges.txt are converted only for ${QWEN2_SLOW.join(', ')}, and ` +
        `${configFile} field "tokenizer_class" is ${JSON.stringify(tc.tokenizer_class) ?? 'missing'} (${howTo})`,
    );
  }
  const vocab = readJson(vocabFile, "the slow tokenizer's vocabulary", CHECKPOINT_FILE_LIMITS.tokenizer, TOKENIZER_BUDGET) as Record<string, number>;
  let entry = 0;
  for (const [tok, id] of Object.entries(vocab)) {
    entry++;
    // the entry's place and the id's type, not the file's text (vocab.json may be a link to any JSON file)
    if (!Number.isSafeInteger(id) || id < 0) {
      const what = typeof id === 'number' ? `the number ${id}` : typeof id;
      throw new CheckpointError(vocabFile, `entry ${entry} has an id that is ${what}, expected an integer ≥ 0`, tok);
    }
  }
  const mergesText = readBoundedText(mergesFile, { limit: CHECKPOINT_FILE_LIMITS.merges, limitOf: "a slow tokenizer's merges.txt", error: checkpointError });
  let lines = 1;
  for (let at = mergesText.indexOf('\n'); at >= 0 && lines <= TOKENIZER_BUDGET.members!; at = mergesText.indexOf('\n', at + 1)) lines++;
  if (lines > TOKENIZER_BUDGET.members! + 1) {
    throw new CheckpointError(mergesFile, `has more than ${TOKENIZER_BUDGET.members} lines; ${TOKENIZER_BUDGET.membersNote}`);
  }
  const merges: string[] = [];
  mergesText.split('\n').forEach((line, i) => {
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) return;
    // the line's number and what is wrong, not its text: merges.txt may be a link to any file
    const parts = line.split(' ').length;
    if (parts !== 2) throw new CheckpointError(mergesFile, `line ${i + 1} has ${parts} space-separated parts, expected two tokens separated by one space`);
    merges.push(line);
  });
  const decoder = (tc.added_tokens_decoder ?? {}) as Record<string, Omit<AddedToken, 'id'>>;
  const added: AddedToken[] = Object.entries(decoder)
    .map(([id, t]) => ({
      id: Number(id),
      content: t.content,
      single_word: t.single_word ?? false,
      lstrip: t.lstrip ?? false,
      rstrip: t.rstrip ?? false,
      normalized: t.normalized ?? false,
      special: t.special ?? false,
    }))
    .sort((a, b) => a.id - b.id);
  const json = byteLevelBpe(vocab, merges, added);
  return { json, file, converted: true };
}

/**
 * A fast tokenizer.json for a byte-level BPE vocabulary with Qwen2's pre-tokenizer split (what transformers writes for
 * the slow GPT-2-style files; the runtime's tokenizer library reads only this form).
 */
export function byteLevelBpe(vocab: Record<string, number>, merges: string[], added: AddedToken[]): TokenizerJson {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: QWEN2_SPLIT }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    } as TokenizerJson['model'],
  };
}

export interface TokenReading {
  tokens: SpecialTokens;
  /** The tokenizer.json to write (with the mask token added when --mask-token named one it lacked). */
  json: TokenizerJson;
  tokenizer: CodeTokenizer;
  /** Ids 0 … vocab − 1 (the tokenizer's vocabulary, added tokens included). */
  vocab: number;
  addedMask: boolean;
}

/**
 * The manifest's special ids. `maskToken` (the user's --mask-token) wins; then config.json's mask_token_id,
 * tokenizer_config.json's mask_token, the published mask names. Every id must be a special token of added_tokens.
 */
export function readSpecialTokens(dir: string, file: string, json: TokenizerJson, config: Record<string, unknown>, maskToken?: string): TokenReading {
  const tcFile = join(dir, 'tokenizer_config.json');
  const tc = existsSync(tcFile) ? readJson(tcFile, 'the tokenizer config', CHECKPOINT_FILE_LIMITS.tokenizerConfig) : {};
  const configFile = join(dir, 'config.json');
  let tokenizer = load(json, file);
  const specials = new Map((json.added_tokens ?? []).filter((t) => t.special).map((t) => [t.content, t.id]));
  const plainId = (text: string): number | undefined => {
    const added = (json.added_tokens ?? []).find((t) => t.content === text);
    if (added) return added.id;
    const v = json.model.vocab;
    if (Array.isArray(v)) {
      const i = v.findIndex(([t]) => t === text);
      return i >= 0 ? i : undefined;
    }
    return v?.[text];
  };
  const notSpecial = (text: string, what: string): never => {
    throw new CheckpointError(
      file,
      `the ${what} token ${JSON.stringify(text)} is in the vocabulary (id ${plainId(text)}) but is not a special ` +
        'token of added_tokens: the tokenizer would split or merge it in text; a model folder needs it special',
      'added_tokens',
    );
  };
  const named = (value: unknown, what: string): number | undefined => {
    if (value === undefined || value === null) return undefined;
    const text = typeof value === 'object' ? (value as { content?: unknown }).content : value;
    if (typeof text !== 'string') return undefined;
    const id = specials.get(text);
    if (id !== undefined) return id;
    if (plainId(text) !== undefined) notSpecial(text, what);
    throw new CheckpointError(file, `the ${what} token ${JSON.stringify(text)} is not in the tokenizer`, 'added_tokens');
  };
  const first = (v: unknown): number | undefined => {
    const x = Array.isArray(v) ? v[0] : v;
    return typeof x === 'number' ? x : undefined;
  };

  let addedMask = false;
  let mask: number | undefined;
  if (maskToken !== undefined) {
    if (!maskToken) throw new CheckpointError('--mask-token', "is empty; expected the mask token's text");
    if (specials.has(maskToken)) mask = specials.get(maskToken);
    else if (plainId(maskToken) !== undefined) notSpecial(maskToken, '--mask-token');
    else {
      // the id after the tokenizer's last: the checkpoint must have an embedding row for it (checked against the weights)
      mask = tokenizer.vocabSize;
      json = {
        ...json,
        added_tokens: [
          ...(json.added_tokens ?? []),
          { id: mask, content: maskToken, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
        ],
      };
      tokenizer = load(json, file);
      specials.set(maskToken, mask);
      addedMask = true;
    }
  }
  mask ??= first(config.mask_token_id);
  mask ??= named(tc.mask_token, 'tokenizer_config.json mask_token');
  if (mask === undefined) {
    const name = MASK_NAMES.find((n) => specials.has(n));
    if (name) mask = specials.get(name);
    else {
      const plain = MASK_NAMES.find((n) => plainId(n) !== undefined);
      if (plain) notSpecial(plain, 'mask');
    }
  }
  if (mask === undefined) {
    throw new CheckpointError(
      file,
      `no mask token: ${configFile} has no "mask_token_id", and added_tokens has none of ${MASK_NAMES.join(', ')}. ` +
        'This is probably not a diffusion language model (an ordinary left-to-right model cannot fill mask slots); ' +
        'if it is one, pass --mask-token TEXT (to npm run convert or npm run get-model; it is added as a special token ' +
        'when the tokenizer lacks it, as Open-dLLM\'s training adds "<M>")',
      'mask_token_id',
    );
  }
  let eos = first(config.eos_token_id) ?? named(tc.eos_token, 'tokenizer_config.json eos_token');
  if (eos === undefined)
    throw new CheckpointError(configFile, 'field "eos_token_id" is missing (and tokenizer_config.json names no eos_token)', 'eos_token_id');
  const padName = PAD_NAMES.find((n) => specials.has(n));
  const pad = (padName !== undefined ? specials.get(padName) : undefined) ?? first(config.pad_token_id) ?? eos;
  let bos: number | null = first(config.bos_token_id) ?? null;
  const vocab = tokenizer.vocabSize;
  const byId = new Map((json.added_tokens ?? []).map((t) => [t.id, t]));
  const tokens: SpecialTokens = { mask, pad, eos, bos };
  for (const role of ['mask', 'pad', 'eos', 'bos'] as const) {
    const id = tokens[role];
    if (id === null) continue;
    if (id >= vocab) throw new CheckpointError(file, `the ${role} token id ${id} is beyond the tokenizer's ${vocab} tokens`, role);
    if (!byId.get(id)?.special) {
      if (role === 'bos') {
        bos = null;
        continue;
      } // an optional role: left out rather than refusing the checkpoint
      const text = tokenizer.idToToken(id);
      throw new CheckpointError(
        file,
        `the ${role} token id ${id} (${JSON.stringify(text)}) is not a special token of added_tokens; ` +
          `the manifest's tokens.${role} must be one${role === 'mask' ? ' (name another with --mask-token TEXT)' : ''}`,
        role,
      );
    }
  }
  eos = tokens.eos;
  if (mask === pad || mask === eos) throw new CheckpointError(file, `the mask token id ${mask} is also the pad or eos id`, 'mask');
  checkRoundTrip(json, tokenizer, file);
  return { tokens: { mask, pad, eos, bos }, json, tokenizer, vocab, addedMask };
}

/** Tokenizer models the runtime's tokenizer library (@huggingface/tokenizers, src/model/tokenizer.ts) implements. */
export const RUNTIME_TOKENIZER_MODELS = ['BPE', 'Unigram', 'WordPiece'];

/**
 * Code the converter encodes and decodes with the tokenizer it writes, as the runtime will: each must come back as it
 * was, with every id inside the vocabulary. ASCII code, indentation by spaces and tabs, CRLF, blank lines.
 */
export const ROUND_TRIP_SAMPLES = [
  'def add(a, b):\n    return a + b\n',
  'function twice(x) {\n\treturn x * 2; // doubled\n}\n',
  '    if (n % 2 === 0) { console.log("even: " + n); }\r\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }\n',
  "SELECT id, name FROM users WHERE age >= 18 AND tag <> 'x';  -- adults\n",
  'xs = [i ** 2 for i in range(10)]  # squares: 0, 1, 4, 9\n\n\n',
  '  }\n} else {\n\t\t$y = @z ?? `${a}` | ~b ^ c & d;\n',
];

/**
 * Refuses a tokenizer the runtime cannot run: a model type its tokenizer library lacks (WordLevel, which it runs
 * as a lookup that gives no id for an unknown word, so every completion failed with "Cannot convert undefined to a
 * BigInt"), or one that does not give back the code it encodes (ROUND_TRIP_SAMPLES).
 */
export function checkRoundTrip(json: TokenizerJson, tokenizer: CodeTokenizer, file: string): void {
  const type = (json.model as { type?: unknown }).type;
  const supported = `the runtime's tokenizer library (@huggingface/tokenizers) runs ${RUNTIME_TOKENIZER_MODELS.join(', ')} tokenizers`;
  if (type !== undefined && !RUNTIME_TOKENIZER_MODELS.includes(String(type))) {
    throw new CheckpointError(
      file,
      `the tokenizer's model is ${JSON.stringify(type)}: ${supported}, not this one, so completions with it would fail; ` +
        "this checkpoint cannot be converted (a code model's tokenizer is nearly always a byte-level BPE)",
      'model.type',
    );
  }
  const vocab = tokenizer.vocabSize;
  ROUND_TRIP_SAMPLES.forEach((text, i) => {
    let ids: number[];
    let back: string;
    try {
      ids = tokenizer.encode(text);
      const bad = ids.findIndex((id) => !Number.isSafeInteger(id) || id < 0 || id >= vocab);
      if (bad >= 0) throw new Error(`it gave ${String(ids[bad])} as the id of a token, not an id of its ${vocab}`);
      back = tokenizer.decode(ids);
    } catch (e) {
      throw new CheckpointError(
        file,
        `the tokenizer (${String(type ?? 'of no named type')}) fails on sample ${i + 1} of the code it must encode, ${JSON.stringify(text)}: ` +
          `${(e as Error).message.split('\n')[0]}; ${supported} exactly both ways, and this one does not run there`,
        'model',
      );
    }
    if (back !== text) {
      let at = 0;
      while (at < text.length && text[at] === back[at]) at++;
      throw new CheckpointError(
        file,
        `the tokenizer (${String(type ?? 'of no named type')}) does not give back the code it encodes: sample ${i + 1}, ` +
          `${JSON.stringify(text)}, decodes as ${JSON.stringify(back)} (they differ from character ${at + 1}); ` +
          'completions need a tokenizer that is exact both ways, so this checkpoint is not converted',
        'model',
      );
    }
  });
}

function load(json: TokenizerJson, file: string): CodeTokenizer {
  try {
    return new CodeTokenizer(json);
  } catch (e) {
    throw new CheckpointError(file, `cannot be loaded as a tokenizer (${(e as Error).message.split('\n')[0]})`);
  }
}
