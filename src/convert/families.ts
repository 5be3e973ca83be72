// Each family's config.json fields and weight names, normalized to the ArchSpec and canonical names of spec.ts.
// Every field that would change the forward in a way the one graph does not compute is refused, naming it.
import { CANONICAL, type ArchSpec, type Family } from './spec';
import { CheckpointError } from './safetensors';
import { CONFIG_LIMITS } from '../engine/bounds';

/** model_type (lower-cased) -> family. Dream's model_type is "Dream" (Dream, Dream-Coder, DiffuCoder). */
export const MODEL_TYPES: Record<string, Family> = { qwen2: 'qwen2', dream: 'qwen2', llama: 'llama', llada: 'llada', unmask: 'unmask' };

/** Models adapted from autoregressive ones read the prediction for position i at row i − 1 (Qwen2 family). */
export const LOGITS_SHIFT: Record<Family, 0 | 1> = { qwen2: 1, llama: 0, llada: 0, unmask: 0 };

/** Where a canonical tensor lives in the checkpoint: a whole tensor, or `rows` rows from row `row` of one with `of` rows (a fused qkv split). */
export interface TensorRef {
  tensor: string;
  row?: number;
  rows?: number;
  of?: number;
}

export interface FamilyReading {
  /** vocabSize is the embedding's rows as the config states them (the checkpoint layer may cut it to the tokenizer's). */
  spec: ArchSpec;
  /** The config field that states the embedding's rows, for messages. */
  vocabField: string;
  /** Every canonical tensor the spec needs, and where it is. */
  names: Map<string, TensorRef>;
}

/** The bundled model's config.json (training/model.py, written by training/to_safetensors.py and train.py). */
export const UNMASK_CONFIG = {
  model_type: 'unmask',
  norm: 'layer_norm',
  hidden_act: 'gelu',
  qkv: 'fused',
} as const;

export function readFamily(config: Record<string, unknown>, file: string): FamilyReading {
  const fail = (field: string, message: string): never => {
    throw new CheckpointError(file, `field "${field}" ${message}`, field);
  };
  const get = (...names: string[]): unknown => {
    for (const n of names) if (config[n] !== undefined && config[n] !== null) return config[n];
    return undefined;
  };
  // every dimension has a limit (CONFIG_LIMITS), checked here, before the tensor names of its layers or anything
  // else is sized by it: num_hidden_layers 1e9 ran V8 out of memory after 168 s with no message
  const int = (names: string[], limit: keyof typeof CONFIG_LIMITS, dflt?: number): number => {
    const field = names.find((n) => config[n] !== undefined && config[n] !== null) ?? names[0];
    const v = get(...names);
    if (v === undefined) return dflt !== undefined ? dflt : fail(names[0], 'is missing');
    if (!Number.isSafeInteger(v) || (v as number) <= 0) fail(field, `is ${JSON.stringify(v)}, expected a positive integer`);
    const most = CONFIG_LIMITS[limit];
    if ((v as number) > most) fail(field, `is ${v as number}, more than the ${most} the converter reads (its limit for ${limit})`);
    return v as number;
  };
  const num = (names: string[], dflt: number): number => {
    const v = get(...names);
    if (v === undefined) return dflt;
    return typeof v === 'number' && Number.isFinite(v) && v > 0
      ? v
      : fail(names[0], `is ${typeof v === 'number' ? v : JSON.stringify(v)}, expected a finite positive number`);
  };
  const flagOff = (name: string, why: string): void => {
    const v = config[name];
    if (v !== undefined && v !== null && v !== false)
      fail(name, `is ${JSON.stringify(v)}; ${why} is not supported (the converted graph would compute another model)`);
  };

  const rawType = config.model_type;
  const modelType = typeof rawType === 'string' ? rawType : '';
  const family = MODEL_TYPES[modelType.toLowerCase()];
  if (!family) {
    fail(
      'model_type',
      `is ${JSON.stringify(rawType) ?? 'missing'}; supported: ${Object.keys(MODEL_TYPES).join(', ')} ` +
        '(Qwen2/Dream, Llama, LLaDA and the bundled model, all with bidirectional attention)',
    );
  }

  let spec: ArchSpec;
  let vocabField: string;
  const names = new Map<string, TensorRef>();
  const put = (canonical: string, tensor: string, part?: { row: number; rows: number; of: number }) => names.set(canonical, { tensor, ...part });

  if (family === 'qwen2' || family === 'llama') {
    const act = String(get('hidden_act') ?? 'silu').toLowerCase();
    if (act !== 'silu') fail('hidden_act', `is ${JSON.stringify(act)}; only "silu" (SwiGLU) is supported`);
    if (config.use_sliding_window) fail('use_sliding_window', 'is true; sliding-window attention is not supported');
    if (Array.isArray(config.layer_types) && config.layer_types.some((t) => t !== 'full_attention')) {
      fail('layer_types', `is ${JSON.stringify(config.layer_types)}; only "full_attention" layers are supported`);
    }
    const rope = (config.rope_parameters ?? {}) as Record<string, unknown>;
    const scaling = (config.rope_scaling ?? {}) as Record<string, unknown>;
    const ropeType = scaling.rope_type ?? scaling.type ?? rope.rope_type ?? 'default';
    if (ropeType !== 'default') {
      fail(config.rope_scaling ? 'rope_scaling' : 'rope_parameters', `has rope_type ${JSON.stringify(ropeType)}; only plain rotary positions are supported`);
    }
    if (config.mlp_bias) fail('mlp_bias', 'is true; MLP biases are not supported');
    if (family === 'qwen2' && config.attention_bias === false) fail('attention_bias', 'is false; Qwen2 attention always has q, k, v biases');
    const hidden = int(['hidden_size'], 'hidden');
    const heads = int(['num_attention_heads'], 'heads');
    const headDim = int(['head_dim'], 'headDim', Math.floor(hidden / heads));
    const theta = typeof config.rope_theta === 'number' ? config.rope_theta : typeof rope.rope_theta === 'number' ? rope.rope_theta : 10000;
    // JSON's 1e999 is Infinity: every rotary angle would be NaN
    if (!(Number.isFinite(theta) && theta > 0)) {
      fail(typeof config.rope_theta === 'number' ? 'rope_theta' : 'rope_parameters.rope_theta', `is ${theta}, expected a finite positive number`);
    }
    vocabField = 'vocab_size';
    spec = {
      family,
      modelType,
      vocabSize: int(['vocab_size'], 'vocab'),
      hidden,
      layers: int(['num_hidden_layers'], 'layers'),
      heads,
      kvHeads: int(['num_key_value_heads'], 'heads', heads),
      headDim,
      intermediate: int(['intermediate_size'], 'intermediate'),
      norm: 'rms',
      normEps: num(['rms_norm_eps'], 1e-6),
      mlp: 'swiglu',
      qkvBias: family === 'qwen2' ? true : Boolean(config.attention_bias),
      ropeTheta: theta,
      tiedEmbeddings: Boolean(config.tie_word_embeddings),
      maxPositions: int(['max_position_embeddings'], 'maxPositions', 4096),
      logitsShift: LOGITS_SHIFT[family],
    };
    put(CANONICAL.embed, 'model.embed_tokens.weight');
    put(`${CANONICAL.finalNorm}.weight`, 'model.norm.weight');
    if (!spec.tiedEmbeddings) put(CANONICAL.lmHead, 'lm_head.weight');
    for (let i = 0; i < spec.layers; i++) {
      const b = `model.layers.${i}.`;
      put(`${CANONICAL.layer(i, 'attn_norm')}.weight`, b + 'input_layernorm.weight');
      put(`${CANONICAL.layer(i, 'mlp_norm')}.weight`, b + 'post_attention_layernorm.weight');
      for (const p of ['q', 'k', 'v', 'o'] as const) {
        put(`${CANONICAL.layer(i, p)}.weight`, `${b}self_attn.${p}_proj.weight`);
        if (spec.qkvBias && p !== 'o') put(`${CANONICAL.layer(i, p)}.bias`, `${b}self_attn.${p}_proj.bias`);
      }
      for (const p of ['gate', 'up', 'down'] as const) put(`${CANONICAL.layer(i, p)}.weight`, `${b}mlp.${p}_proj.weight`);
    }
  } else if (family === 'llada') {
    // LLaDA's own config (an OLMo-style ModelConfig); its defaults are not Llama's, so the forward-changing ones are read explicitly
    if (String(config.block_type ?? 'llama') !== 'llama') fail('block_type', `is ${JSON.stringify(config.block_type)}; only "llama" blocks are supported`);
    const act = String(config.activation_type ?? 'silu').toLowerCase();
    if (act !== 'silu' && act !== 'swiglu') fail('activation_type', `is ${JSON.stringify(act)}; only "silu"/"swiglu" is supported`);
    if (config.layer_norm_type === undefined) fail('layer_norm_type', 'is missing; LLaDA\'s default is a LayerNorm, and only "rms" is supported');
    if (config.layer_norm_type !== 'rms') fail('layer_norm_type', `is ${JSON.stringify(config.layer_norm_type)}; only "rms" (RMSNorm) is supported`);
    flagOff('input_emb_norm', 'a norm of the input embeddings');
    flagOff('attention_layer_norm', 'a norm of the queries and keys');
    flagOff('clip_qkv', 'clipping q, k, v');
    flagOff('scale_logits', 'scaling the logits');
    flagOff('alibi', 'ALiBi attention bias');
    flagOff('include_bias', 'a bias on every linear layer');
    flagOff('bias_for_layer_norm', 'a bias on the norms');
    // LLaDA's (OLMo's) defaults are no rotary positions and a LayerNorm: a config must say rope and rms itself
    if (config.rope !== true) fail('rope', `is ${JSON.stringify(config.rope) ?? 'missing'}; only rotary positions ("rope": true) are supported`);
    if (config.layer_norm_with_affine === false) fail('layer_norm_with_affine', 'is false; only norms with a weight are supported');
    const hidden = int(['d_model'], 'hidden');
    const heads = int(['n_heads'], 'heads');
    const multiQuery = config.multi_query_attention === true;
    vocabField = config.embedding_size !== undefined && config.embedding_size !== null ? 'embedding_size' : 'vocab_size';
    spec = {
      family,
      modelType,
      vocabSize: int([vocabField], 'vocab'),
      hidden,
      layers: int(['n_layers'], 'layers'),
      heads,
      kvHeads: int(['n_kv_heads', 'effective_n_kv_heads'], 'heads', multiQuery ? 1 : heads),
      headDim: Math.floor(hidden / heads),
      intermediate: int(['mlp_hidden_size'], 'intermediate'),
      norm: 'rms',
      normEps: num(['rms_norm_eps'], 1e-5),
      mlp: 'swiglu',
      qkvBias: Boolean(config.include_qkv_bias),
      ropeTheta: num(['rope_theta'], 10000),
      tiedEmbeddings: Boolean(config.weight_tying),
      maxPositions: int(['max_sequence_length'], 'maxPositions', 4096),
      logitsShift: LOGITS_SHIFT[family],
    };
    const t = 'model.transformer.';
    put(CANONICAL.embed, t + 'wte.weight');
    put(`${CANONICAL.finalNorm}.weight`, t + 'ln_f.weight');
    if (!spec.tiedEmbeddings) put(CANONICAL.lmHead, t + 'ff_out.weight');
    const parts = {
      attn_norm: 'attn_norm',
      mlp_norm: 'ff_norm',
      q: 'q_proj',
      k: 'k_proj',
      v: 'v_proj',
      o: 'attn_out',
      gate: 'ff_proj',
      up: 'up_proj',
      down: 'ff_out',
    } as const;
    for (let i = 0; i < spec.layers; i++) {
      for (const [part, name] of Object.entries(parts)) {
        put(`${CANONICAL.layer(i, part as keyof typeof parts)}.weight`, `${t}blocks.${i}.${name}.weight`);
      }
      if (spec.qkvBias) for (const p of ['q', 'k', 'v'] as const) put(`${CANONICAL.layer(i, p)}.bias`, `${t}blocks.${i}.${parts[p]}.bias`);
    }
  } else {
    // the bundled model (training/model.py): pre-LayerNorm with bias, fused qkv without bias, exact GELU, tied, rotary
    for (const [field, value] of Object.entries(UNMASK_CONFIG)) {
      if (config[field] !== value)
        fail(field, `is ${JSON.stringify(config[field]) ?? 'missing'}, expected ${JSON.stringify(value)} (training/model.py's architecture)`);
    }
    if (config.tie_word_embeddings !== true) fail('tie_word_embeddings', `is ${JSON.stringify(config.tie_word_embeddings) ?? 'missing'}, expected true`);
    const hidden = int(['hidden_size'], 'hidden');
    const heads = int(['num_attention_heads'], 'heads');
    if (hidden % heads) fail('num_attention_heads', `(${heads}) does not divide hidden_size ${hidden}`);
    vocabField = 'vocab_size';
    spec = {
      family,
      modelType,
      vocabSize: int(['vocab_size'], 'vocab'),
      hidden,
      layers: int(['num_hidden_layers'], 'layers'),
      heads,
      kvHeads: heads,
      headDim: hidden / heads,
      intermediate: int(['intermediate_size'], 'intermediate'),
      norm: 'layer',
      normEps: num(['layer_norm_eps'], 1e-5),
      mlp: 'gelu',
      qkvBias: false,
      ropeTheta: num(['rope_theta'], 10000),
      tiedEmbeddings: true,
      maxPositions: int(['max_position_embeddings'], 'maxPositions'),
      logitsShift: LOGITS_SHIFT[family],
    };
    put(CANONICAL.embed, 'embed.weight');
    put(`${CANONICAL.finalNorm}.weight`, 'ln_f.weight');
    put(`${CANONICAL.finalNorm}.bias`, 'ln_f.bias');
    for (let i = 0; i < spec.layers; i++) {
      const b = `blocks.${i}.`;
      for (const [part, name] of [
        ['attn_norm', 'ln1'],
        ['mlp_norm', 'ln2'],
      ] as const) {
        put(`${CANONICAL.layer(i, part)}.weight`, `${b}${name}.weight`);
        put(`${CANONICAL.layer(i, part)}.bias`, `${b}${name}.bias`);
      }
      // qkv.weight is [3 · hidden, hidden]: rows q, then k, then v (model.py views it as (3, heads, head_dim))
      (['q', 'k', 'v'] as const).forEach((p, j) => put(`${CANONICAL.layer(i, p)}.weight`, `${b}qkv.weight`, { row: j * hidden, rows: hidden, of: 3 * hidden }));
      put(`${CANONICAL.layer(i, 'o')}.weight`, `${b}out.weight`);
      put(`${CANONICAL.layer(i, 'up')}.weight`, `${b}up.weight`);
      put(`${CANONICAL.layer(i, 'down')}.weight`, `${b}down.weight`);
    }
  }
  if (spec.heads % spec.kvHeads) {
    fail(family === 'llada' ? 'n_kv_heads' : 'num_key_value_heads', `(${spec.kvHeads}) does not divide the ${spec.heads} attention heads`);
  }
  if (spec.headDim % 2) fail('head_dim', `is ${spec.headDim}; rotary positions need an even head size`);
  return { spec, vocabField, names };
}

/** The shape a canonical tensor must have under `spec` (PyTorch (out, in) layout), with `vocab` embedding rows. */
export function expectedShape(spec: ArchSpec, canonical: string, vocab: number): number[] {
  const { hidden, heads, kvHeads, headDim, intermediate } = spec;
  if (canonical === CANONICAL.embed || canonical === CANONICAL.lmHead) return [vocab, hidden];
  if (canonical.startsWith(`${CANONICAL.finalNorm}.`)) return [hidden];
  const m = /^layers\.\d+\.(\w+)\.(weight|bias)$/.exec(canonical);
  if (!m) throw new Error(`not a canonical tensor name: ${canonical}`);
  const [, part, kind] = m;
  const out: Record<string, number> = {
    attn_norm: hidden,
    mlp_norm: hidden,
    q: heads * headDim,
    k: kvHeads * headDim,
    v: kvHeads * headDim,
    o: hidden,
    gate: intermediate,
    up: intermediate,
    down: hidden,
  };
  const inp: Record<string, number> = { q: hidden, k: hidden, v: hidden, o: heads * headDim, gate: hidden, up: hidden, down: intermediate };
  if (kind === 'bias' || part === 'attn_norm' || part === 'mlp_norm') return [out[part]];
  return [out[part], inp[part]];
}
