// The converter's inner contract: what reading a checkpoint (checkpoint.ts: config.json, *.safetensors,
// tokenizer.json) hands to building the graph (graph.ts). The reader normalizes every family's config and tensor
// names to this one shape, so the graph builder knows no family's spelling and the reader knows no ONNX.

/** Families the converter reads (familyTable.json). `unmask` is the bundled model's own architecture (training/model.py). */
export type Family = Exclude<keyof typeof import('./familyTable.json'), '//'>;

/** One bidirectional transformer, described by what changes its forward. */
export interface ArchSpec {
  family: Family;
  /** config.json's model_type as read (for messages and the model card). */
  modelType: string;
  /** Rows of the embedding (the graph's vocabulary). */
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** FFN inner size. */
  intermediate: number;
  /** `rms`: RMSNorm (weight only); `layer`: LayerNorm (weight and bias). */
  norm: 'rms' | 'layer';
  normEps: number;
  /** `swiglu`: down(silu(gate(x)) * up(x)); `gelu`: down(gelu(up(x))) with the exact (erf) GELU. */
  mlp: 'swiglu' | 'gelu';
  /** q, k and v projections carry a bias (Qwen2). */
  qkvBias: boolean;
  /** Rotary base; rotary over the whole head with the half-split (rotate_half) layout. */
  ropeTheta: number;
  /** The output projection is the embedding (no `lm_head.weight`). */
  tiedEmbeddings: boolean;
  /** Longest canvas the checkpoint claims (max_position_embeddings or the bundled model's max_seq). */
  maxPositions: number;
  /** 1: the prediction for position i is read at i − 1 (models adapted from autoregressive ones). */
  logitsShift: 0 | 1;
}

/**
 * Canonical weight names, with the PyTorch (out, in) layout of Linear weights. Per layer `i`:
 *   layers.i.attn_norm.weight / .bias (bias only for `layer` norm)
 *   layers.i.q.weight, layers.i.k.weight, layers.i.v.weight (+ .bias when qkvBias)
 *   layers.i.o.weight
 *   layers.i.mlp_norm.weight / .bias
 *   layers.i.gate.weight (swiglu only), layers.i.up.weight, layers.i.down.weight
 * and `embed` [vocab, hidden], `final_norm.weight` / `.bias`, `lm_head.weight` [vocab, hidden] (untied only).
 * A fused qkv of a checkpoint is split into q, k, v by the reader.
 */
export const CANONICAL = {
  embed: 'embed',
  finalNorm: 'final_norm',
  lmHead: 'lm_head.weight',
  layer: (i: number, part: 'attn_norm' | 'q' | 'k' | 'v' | 'o' | 'mlp_norm' | 'gate' | 'up' | 'down') => `layers.${i}.${part}`,
} as const;

/** Streams a checkpoint's tensors one at a time as float32 (converted from F16/BF16 on read). */
export interface TensorSource {
  /** Shape of a canonical tensor; throws naming the file and tensor when it is missing. */
  shape(name: string): number[];
  has(name: string): boolean;
  /** The tensor as float32, read from disk now; the caller drops it when done (nothing is cached). */
  read(name: string): Promise<Float32Array>;
}
