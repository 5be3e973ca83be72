// Reading a checkpoint folder as the Hub lays it out (config.json, *.safetensors single or sharded with
// model.safetensors.index.json, tokenizer.json): everything is checked when it is opened (config fields, every
// tensor's presence, dtype and shape, the tokenizer's special tokens), and the weights are read later, one tensor at
// a time, from their offsets in the files.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { SpecialTokens } from '../engine/types';
import { CHECKPOINT_FILE_LIMITS } from '../engine/bounds';
import { expectedShape, readFamily } from './families';
import { CheckpointError, checkFloat, openSafetensors, readFloat32, type SafetensorsFile, type SafetensorsHead, type TensorEntry } from './safetensors';
import { CANONICAL, type ArchSpec, type TensorSource } from './spec';
import { loadTokenizerJson, readJson, readSpecialTokens, type TokenizerJson } from './tokenizerPrep';
import type { CodeTokenizer } from '../model/tokenizer';

export const CONFIG_FILE = 'config.json';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface OpenOptions {
  /** The mask token's text when config.json and the tokenizer do not name one (added to the tokenizer when it lacks it). */
  maskToken?: string;
  /**
   * Safetensors files not in the folder yet, by name: their size and header (Get Model's check before the download).
   * The tensors of such a checkpoint are checked, never read.
   */
  remoteWeights?: Record<string, SafetensorsHead>;
}

export interface Checkpoint {
  dir: string;
  /** vocabSize is the tokenizer's vocabulary: embedding rows past it (padding of the checkpoint, never a token) are left out. */
  spec: ArchSpec;
  tensors: TensorSource;
  tokens: SpecialTokens;
  /** The tokenizer.json to write into the model folder (converted from a slow tokenizer, or with an added mask token). */
  tokenizerJson: TokenizerJson;
  tokenizer: CodeTokenizer;
  /** Where the tokenizer came from: tokenizer.json, or vocab.json + merges.txt when `tokenizerConverted`. */
  tokenizerFile: string;
  tokenizerConverted: boolean;
  addedMask: boolean;
  configFile: string;
  config: Record<string, unknown>;
  /** Rows of the checkpoint's embedding (≥ spec.vocabSize). */
  checkpointVocab: number;
  /** The safetensors files read, with their sizes. */
  files: { path: string; bytes: number }[];
  /** Parameters of the graph's weights (the embedding counted once when tied). */
  parameters: number;
}

/** Opens a checkpoint folder and checks all of it; nothing but headers and JSON is read. */
export async function openCheckpoint(dir: string, options: OpenOptions = {}): Promise<Checkpoint> {
  dir = resolve(dir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CheckpointError(dir, 'checkpoint folder not found');
  const configFile = join(dir, CONFIG_FILE);
  const config = readJson(configFile, "the checkpoint's config.json", CHECKPOINT_FILE_LIMITS.config);
  const { spec: claimed, vocabField, names } = readFamily(config, configFile);

  const { json, file: tokenizerFile, converted } = loadTokenizerJson(dir);
  const tok = readSpecialTokens(dir, tokenizerFile, json, config, options.maskToken);

  const shards = await openShards(dir, options.remoteWeights ?? {});
  const where = (tensor: string): { file: SafetensorsFile; entry: TensorEntry } | undefined => {
    const file = shards.byTensor.get(tensor);
    return file && { file, entry: file.tensors.get(tensor)! };
  };

  // the embedding's rows are the checkpoint's vocabulary: the config must say so, and the tokenizer must fit in it
  const embedName = names.get(CANONICAL.embed)!.tensor;
  const embed = where(embedName);
  if (!embed) throw missing(shards, embedName);
  const rows = embed.entry.shape[0];
  if (rows !== claimed.vocabSize) {
    throw new CheckpointError(
      configFile,
      `field "${vocabField}" is ${claimed.vocabSize}, but the embedding "${embedName}" in ` + `${basename(embed.file.path)} has ${rows} rows`,
      vocabField,
    );
  }
  if (tok.vocab > rows) {
    throw new CheckpointError(
      tokenizerFile,
      `the tokenizer has ${tok.vocab} tokens, more than the ${rows} rows of the embedding "${embedName}"` +
        (tok.addedMask ? ` (--mask-token ${JSON.stringify(options.maskToken)} was added as id ${tok.tokens.mask}, and the embedding has no row for it)` : ''),
    );
  }
  const spec: ArchSpec = { ...claimed, vocabSize: tok.vocab };

  // every tensor the graph needs: present, a float dtype, the shape the config implies
  const refs = new Map<string, { file: SafetensorsFile; entry: TensorEntry; first: number; count: number; shape: number[] }>();
  for (const [canonical, ref] of names) {
    const found = where(ref.tensor);
    if (!found) throw missing(shards, ref.tensor);
    checkFloat(found.file, found.entry);
    const vocabRows = canonical === CANONICAL.embed || canonical === CANONICAL.lmHead;
    const want = expectedShape(spec, canonical, vocabRows ? rows : spec.vocabSize);
    const has = found.entry.shape;
    const whole = ref.of !== undefined ? [ref.of, ...want.slice(1)] : want;
    if (has.length !== whole.length || has.some((d, i) => d !== whole[i])) {
      throw new CheckpointError(
        found.file.path,
        `tensor "${ref.tensor}" has shape [${has.join(', ')}], but ${basename(configFile)} implies ` + `[${whole.join(', ')}]`,
        ref.tensor,
      );
    }
    const cols = has.slice(1).reduce((a, d) => a * d, 1);
    // a vocabulary cut or one part of a fused tensor: a contiguous run of rows
    const firstRow = ref.row ?? 0;
    const rowCount = vocabRows ? spec.vocabSize : (ref.rows ?? has[0] ?? 1);
    const shape = vocabRows ? [spec.vocabSize, spec.hidden] : ref.row !== undefined ? [ref.rows!, ...has.slice(1)] : has;
    refs.set(canonical, { ...found, first: firstRow * cols, count: has.length ? rowCount * cols : 1, shape });
  }

  const tensors: TensorSource = {
    has: (name) => refs.has(alias(name)),
    shape: (name) => [...ref(name).shape],
    read: (name) => {
      const r = ref(name);
      return readFloat32(r.file, r.entry, r.first, r.count);
    },
  };
  function ref(name: string) {
    const r = refs.get(alias(name));
    if (!r) throw new CheckpointError(dir, `tensor "${name}" is not part of this ${spec.family} checkpoint`, name);
    return r;
  }

  let parameters = 0;
  for (const r of refs.values()) parameters += r.count;
  return {
    dir,
    spec,
    tensors,
    tokens: tok.tokens,
    tokenizerJson: tok.json,
    tokenizer: tok.tokenizer,
    tokenizerFile,
    tokenizerConverted: converted,
    addedMask: tok.addedMask,
    configFile,
    config,
    checkpointVocab: rows,
    parameters,
    files: shards.files.map((f) => ({ path: f.path, bytes: f.size })),
  };
}

// `embed.weight` is accepted for `embed`, as every other canonical weight ends in .weight
function alias(name: string): string {
  return name === `${CANONICAL.embed}.weight` ? CANONICAL.embed : name;
}

interface Shards {
  files: SafetensorsFile[];
  byTensor: Map<string, SafetensorsFile>;
  index?: string;
}

/** The safetensors files: those the index names when there is one (and each tensor in the file it says), else every *.safetensors. */
async function openShards(dir: string, remote: Record<string, SafetensorsHead>): Promise<Shards> {
  const has = (name: string) => Object.hasOwn(remote, name) || existsSync(join(dir, name));
  const openOne = (name: string) => openSafetensors(join(dir, name), Object.hasOwn(remote, name) ? remote[name] : undefined);
  const indexFile = join(dir, INDEX_FILE);
  const byTensor = new Map<string, SafetensorsFile>();
  if (existsSync(indexFile)) {
    const index = readJson(indexFile, 'the shard index', CHECKPOINT_FILE_LIMITS.index);
    const map = index.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) {
      throw new CheckpointError(indexFile, 'field "weight_map" is missing or not an object { tensor: file }', 'weight_map');
    }
    const opened = new Map<string, SafetensorsFile>();
    for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
        throw new CheckpointError(
          indexFile,
          `field "weight_map" names ${JSON.stringify(shard)} for tensor "${tensor}", expected a file name in the folder`,
          tensor,
        );
      }
      let file = opened.get(shard);
      if (!file) {
        if (!has(shard))
          throw new CheckpointError(indexFile, `field "weight_map" names ${shard} (tensor "${tensor}"), which is missing from the folder`, tensor);
        file = await openOne(shard);
        opened.set(shard, file);
      }
      if (!file.tensors.has(tensor)) throw new CheckpointError(file.path, `tensor "${tensor}" is missing, though ${INDEX_FILE} places it in this file`, tensor);
      byTensor.set(tensor, file);
    }
    return { files: [...opened.values()], byTensor, index: indexFile };
  }
  const names = [...new Set([...readdirSync(dir), ...Object.keys(remote)])].filter((n) => n.endsWith('.safetensors')).sort();
  if (!names.length) {
    throw new CheckpointError(dir, 'no *.safetensors file (PyTorch .bin/.pt checkpoints are not read: loading them can run code)');
  }
  const files: SafetensorsFile[] = [];
  for (const n of names) {
    const file = await openOne(n);
    files.push(file);
    for (const t of file.tensors.keys()) {
      const other = byTensor.get(t);
      if (other) throw new CheckpointError(file.path, `tensor "${t}" is also in ${basename(other.path)}; which one is meant? (no ${INDEX_FILE} says)`, t);
      byTensor.set(t, file);
    }
  }
  return { files, byTensor };
}

function missing(shards: Shards, tensor: string): CheckpointError {
  const where = shards.index ?? shards.files.map((f) => basename(f.path)).join(', ');
  return new CheckpointError(where, `tensor "${tensor}" is missing (the config's architecture needs it)`, tensor);
}
