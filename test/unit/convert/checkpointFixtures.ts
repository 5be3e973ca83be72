// Small checkpoints written by the tests themselves: safetensors files (F32, F16, BF16), a byte-level BPE tokenizer.json
// and the config.json of each family, with random weights of a tiny shape.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { byteLevelBpe } from '../../../src/convert/tokenizerPrep';

export type Dtype = 'F32' | 'F16' | 'BF16' | 'I8';
export interface FixtureTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  values: Float32Array | number[];
}

/** float32 -> IEEE half (round to nearest even), for values inside half's normal range or zero. */
export function toF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (((u >>> 23) & 0xff) === 0) return sign;
  if (exp <= 0 || exp >= 31) throw new Error(`toF16: ${x} outside the normal half range`);
  const round = mant & 0x1fff;
  mant >>>= 13;
  let h = sign | (exp << 10) | mant;
  if (round > 0x1000 || (round === 0x1000 && mant & 1)) h++;
  return h;
}

/** float32 -> bfloat16 by rounding to nearest even. */
export function toBF16(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Raw little-endian bytes of a tensor; `raw` bit patterns are written as they are for F16/BF16 when `bits` is set. */
export function tensorBytes(t: FixtureTensor, bits = false): Buffer {
  const n = t.values.length;
  if (t.dtype === 'F32') return Buffer.from(new Float32Array(t.values).buffer);
  if (t.dtype === 'I8') return Buffer.from(Int8Array.from(t.values, (v) => Math.round(v)).buffer);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = bits ? t.values[i] : t.dtype === 'F16' ? toF16(t.values[i]) : toBF16(t.values[i]);
  return Buffer.from(out.buffer);
}

/** A safetensors file; `header` may be edited before it is written (corruption tests). */
export function writeSafetensors(
  path: string,
  tensors: FixtureTensor[],
  opts: { bits?: boolean; editHeader?: (h: Record<string, unknown>) => void } = {},
): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const b = tensorBytes(t, opts.bits);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + b.length] };
    blobs.push(b);
    offset += b.length;
  }
  opts.editHeader?.(header);
  let text = JSON.stringify(header);
  while ((8 + Buffer.byteLength(text)) % 8) text += ' ';
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(text), ...blobs]));
}

/** GPT-2's byte -> printable character map of byte-level BPE. */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(bs.includes(b) ? b : 256 + n++);
  return map;
}

export const MERGES = ['Ġ t', 'r e', 'Ġt re', 'd e', 'Ġ d', 'Ġd e', 'f ('];

/** A byte-level BPE tokenizer.json: 256 byte tokens, a few merges, then `specials` (added tokens; `plain` ones not special). */
export function tokenizerJson(specials: string[], plain: string[] = []): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, i) => {
    vocab[c] = i;
  });
  for (const m of MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  for (const p of plain) vocab[p] = Object.keys(vocab).length;
  const base = Object.keys(vocab).length;
  const added = specials.map((content, i) => ({ id: base + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return byteLevelBpe(vocab, MERGES, added) as unknown as Record<string, unknown>;
}

export const TINY = { hidden: 8, layers: 1, heads: 2, kvHeads: 1, headDim: 4, ffn: 16 };
export type FixtureFamily = 'qwen2' | 'llama' | 'llada' | 'unmask' | 'dream';

export interface FixtureOptions {
  dtype?: Dtype;
  /** Embedding rows beyond the tokenizer's tokens (a padded vocabulary, room for an added mask token). */
  spareRows?: number;
  /** Splits the tensors over this many files with model.safetensors.index.json. */
  shards?: number;
  specials?: string[];
  plain?: string[];
  config?: Record<string, unknown>;
  /** Leaves these tensors out. */
  drop?: string[];
  seed?: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32 - 0.5;
  };
}

/** Writes a checkpoint folder; returns the tensors written (their float32 values, exact in the dtype written). */
export function writeCheckpoint(dir: string, family: FixtureFamily, opts: FixtureOptions = {}): Map<string, FixtureTensor> {
  mkdirSync(dir, { recursive: true });
  const { hidden: h, layers, heads, kvHeads, headDim, ffn } = TINY;
  const specials = opts.specials ?? (family === 'unmask' ? ['<|pad|>', '<|eos|>', '<|bos|>', '<|mask|>'] : ['<|endoftext|>', '<|mask|>']);
  const tok = tokenizerJson(specials, opts.plain);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  const added = tok.added_tokens as { id: number; content: string }[];
  const tokens = added.length ? added[added.length - 1].id + 1 : Object.keys((tok.model as { vocab: object }).vocab).length;
  const vocab = tokens + (opts.spareRows ?? 0);
  const idOf = (s: string) => added.find((t) => t.content === s)?.id;
  const dtype = opts.dtype ?? 'F32';
  const rand = rng(opts.seed ?? 7);
  const tensors = new Map<string, FixtureTensor>();
  const put = (name: string, shape: number[]) => {
    const n = shape.reduce((a, d) => a * d, 1);
    // values exact in every dtype: multiples of 1/64 in (-4, 4) hold in F16 and BF16 alike
    const values = new Float32Array(n).map(() => Math.round(rand() * 512) / 64);
    tensors.set(name, { name, dtype, shape, values });
  };
  let config: Record<string, unknown>;
  if (family === 'qwen2' || family === 'llama' || family === 'dream') {
    config = {
      model_type: family === 'dream' ? 'Dream' : family,
      hidden_size: h,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      intermediate_size: ffn,
      vocab_size: vocab,
      hidden_act: 'silu',
      rms_norm_eps: 1e-6,
      rope_parameters: { rope_theta: 10000, rope_type: 'default' },
      max_position_embeddings: 256,
      tie_word_embeddings: family === 'qwen2',
      eos_token_id: idOf('<|endoftext|>') ?? 0,
    };
    put('model.embed_tokens.weight', [vocab, h]);
    put('model.norm.weight', [h]);
    if (family !== 'qwen2') put('lm_head.weight', [vocab, h]);
    for (let i = 0; i < layers; i++) {
      const b = `model.layers.${i}.`;
      put(b + 'input_layernorm.weight', [h]);
      put(b + 'post_attention_layernorm.weight', [h]);
      put(b + 'self_attn.q_proj.weight', [heads * headDim, h]);
      put(b + 'self_attn.k_proj.weight', [kvHeads * headDim, h]);
      put(b + 'self_attn.v_proj.weight', [kvHeads * headDim, h]);
      if (family !== 'llama') {
        put(b + 'self_attn.q_proj.bias', [heads * headDim]);
        put(b + 'self_attn.k_proj.bias', [kvHeads * headDim]);
        put(b + 'self_attn.v_proj.bias', [kvHeads * headDim]);
      }
      put(b + 'self_attn.o_proj.weight', [h, heads * headDim]);
      put(b + 'mlp.gate_proj.weight', [ffn, h]);
      put(b + 'mlp.up_proj.weight', [ffn, h]);
      put(b + 'mlp.down_proj.weight', [h, ffn]);
    }
  } else if (family === 'llada') {
    config = {
      model_type: 'llada',
      d_model: h,
      n_layers: layers,
      n_heads: heads,
      n_kv_heads: kvHeads,
      mlp_hidden_size: ffn,
      vocab_size: vocab,
      embedding_size: vocab,
      rope: true,
      rope_theta: 500000,
      alibi: false,
      weight_tying: false,
      block_type: 'llama',
      activation_type: 'silu',
      layer_norm_type: 'rms',
      rms_norm_eps: 1e-5,
      include_bias: false,
      include_qkv_bias: false,
      input_emb_norm: false,
      attention_layer_norm: false,
      clip_qkv: null,
      scale_logits: false,
      max_sequence_length: 256,
      eos_token_id: idOf('<|endoftext|>') ?? 0,
    };
    const t = 'model.transformer.';
    put(t + 'wte.weight', [vocab, h]);
    put(t + 'ln_f.weight', [h]);
    put(t + 'ff_out.weight', [vocab, h]);
    for (let i = 0; i < layers; i++) {
      const b = `${t}blocks.${i}.`;
      put(b + 'attn_norm.weight', [h]);
      put(b + 'ff_norm.weight', [h]);
      put(b + 'q_proj.weight', [heads * headDim, h]);
      put(b + 'k_proj.weight', [kvHeads * headDim, h]);
      put(b + 'v_proj.weight', [kvHeads * headDim, h]);
      put(b + 'attn_out.weight', [h, heads * headDim]);
      put(b + 'ff_proj.weight', [ffn, h]);
      put(b + 'up_proj.weight', [ffn, h]);
      put(b + 'ff_out.weight', [h, ffn]);
    }
  } else {
    config = {
      model_type: 'unmask',
      vocab_size: vocab,
      hidden_size: h,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      intermediate_size: ffn,
      max_position_embeddings: 256,
      rope_theta: 10000,
      norm: 'layer_norm',
      layer_norm_eps: 1e-5,
      hidden_act: 'gelu',
      qkv: 'fused',
      tie_word_embeddings: true,
      mask_token_id: idOf('<|mask|>'),
      pad_token_id: idOf('<|pad|>'),
      eos_token_id: idOf('<|eos|>'),
      bos_token_id: null,
    };
    put('embed.weight', [vocab, h]);
    put('ln_f.weight', [h]);
    put('ln_f.bias', [h]);
    for (let i = 0; i < layers; i++) {
      const b = `blocks.${i}.`;
      for (const n of ['ln1', 'ln2']) {
        put(`${b}${n}.weight`, [h]);
        put(`${b}${n}.bias`, [h]);
      }
      put(b + 'qkv.weight', [3 * h, h]);
      put(b + 'out.weight', [h, h]);
      put(b + 'up.weight', [ffn, h]);
      put(b + 'down.weight', [h, ffn]);
    }
  }
  config = { ...config, ...opts.config };
  for (const [k, v] of Object.entries(opts.config ?? {})) if (v === undefined) delete config[k];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const d of opts.drop ?? []) tensors.delete(d);
  const all = [...tensors.values()];
  const shards = opts.shards ?? 1;
  if (shards === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), all);
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = all.filter((_, i) => i % shards === s);
      for (const t of part) weightMap[t.name] = file;
      writeSafetensors(join(dir, file), part);
    }
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  return tensors;
}
