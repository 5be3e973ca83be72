// The family registry: one entry per family the converter reads. What the other sides read too (model types, label,
// logitsShift, cache default, weight names) is in familyTable.json; here each entry adds its config reader, which
// normalizes config.json to the ArchSpec of spec.ts. Every field that would change the forward in a way the one graph
// does not compute is refused, naming it. Adding a family: an entry in familyTable.json, its reader in READERS, its test.
import { CANONICAL, type ArchSpec, type Family } from './spec';
import { CheckpointError } from './safetensors';
import { CONFIG_LIMITS } from '../engine/bounds';
import registry from './familyTable.json';
import { familyList } from './familyList';

/** What familyTable.json says of one family (see its comment). */
interface FamilyFacts {
  label: string;
  modelTypes: string[];
  logitsShift: 0 | 1;
  cache: boolean;
  weights: {
    embed: string;
    final_norm: string;
    lm_head: string | null;
    layer: string;
    parts: Partial<Record<'attn_norm' | 'mlp_norm' | 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'fusedQkv', string>>;
  };
}

/** Every family's facts, keyed by family (familyTable.json without its comment). */
export const FAMILIES = Object.fromEntries(Object.entries(registry).filter(([k]) => k !== '//')) as unknown as Record<Family, FamilyFacts>;

/** model_type (lower-cased) -> family. Dream's model_type is "Dream" (Dream, Dream-Coder, DiffuCoder). */
export const MODEL_TYPES: Record<string, Family> = Object.fromEntries(
  (Object.entries(FAMILIES) as [Family, FamilyFacts][]).flatMap(([family, f]) => f.modelTypes.map((t) => [t, family])),
);

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

/** The config readers' helpers: each reads a field, checked, or fails naming it. */
interface ConfigReader {
  config: Record<string, unknown>;
  fail(field: string, message: string): never;
  get(...names: string[]): unknown;
  int(names: string[], limit: keyof typeof CONFIG_LIMITS, dflt?: number): number;
  num(names: string[], dflt: number): number;
  flagOff(name: string, why: string): void;
}

/** The config fields transformers' PretrainedConfig names alike in every family that uses it (not LLaDA's own config). */
const HF_FIELDS = { vocabField: 'vocab_size', kvHeadsField: 'num_key_value_heads' } as const;

/** The sizes such a config states under transformers' standard names. */
function transformersSizes(int: ConfigReader['int'], hidden: number, heads: number) {
  return {
    vocabSize: int(['vocab_size'], 'vocab'),
    hidden,
    layers: int(['num_hidden_layers'], 'layers'),
    heads,
    intermediate: int(['intermediate_size'], 'intermediate'),
  };
}

/** A family's reading of its config: the spec less what the registry states, the fields messages name. */
interface ConfigReading {
  spec: Omit<ArchSpec, 'family' | 'modelType' | 'logitsShift'>;
  vocabField: string;
  /** The field of the key/value heads, for the message when they do not divide the heads. */
  kvHeadsField: string;
}

/** Qwen2 and Llama: transformers' own config (Qwen2's attention always has q, k, v biases). */
function readLlamaLike(family: 'qwen2' | 'llama') {
  return ({ config, fail, get, int, num }: ConfigReader): ConfigReading => {
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
    return {
      ...HF_FIELDS,
      spec: {
        ...transformersSizes(int, hidden, heads),
        kvHeads: int(['num_key_value_heads'], 'heads', heads),
        headDim,
        norm: 'rms',
        normEps: num(['rms_norm_eps'], 1e-6),
        mlp: 'swiglu',
        qkvBias: family === 'qwen2' ? true : Boolean(config.attention_bias),
        ropeTheta: theta,
        tiedEmbeddings: Boolean(config.tie_word_embeddings),
        maxPositions: int(['max_position_embeddings'], 'maxPositions', 4096),
      },
    };
  };
}

/** LLaDA's own config (an OLMo-style ModelConfig); its defaults are not Llama's, so the forward-changing ones are read explicitly. */
function readLlada({ config, fail, int, num, flagOff }: ConfigReader): ConfigReading {
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
  const vocabField = config.embedding_size !== undefined && config.embedding_size !== null ? 'embedding_size' : 'vocab_size';
  return {
    vocabField,
    kvHeadsField: 'n_kv_heads',
    spec: {
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
    },
  };
}

/** The bundled model (training/model.py): pre-LayerNorm with bias, fused qkv without bias, exact GELU, tied, rotary. */
function readUnmask({ config, fail, int, num }: ConfigReader): ConfigReading {
  for (const [field, value] of Object.entries(UNMASK_CONFIG)) {
    if (config[field] !== value)
      fail(field, `is ${JSON.stringify(config[field]) ?? 'missing'}, expected ${JSON.stringify(value)} (training/model.py's architecture)`);
  }
  if (config.tie_word_embeddings !== true) fail('tie_word_embeddings', `is ${JSON.stringify(config.tie_word_embeddings) ?? 'missing'}, expected true`);
  const hidden = int(['hidden_size'], 'hidden');
  const heads = int(['num_attention_heads'], 'heads');
  if (hidden % heads) fail('num_attention_heads', `(${heads}) does not divide hidden_size ${hidden}`);
  return {
    ...HF_FIELDS,
    spec: {
      ...transformersSizes(int, hidden, heads),
      kvHeads: heads,
      headDim: hidden / heads,
      norm: 'layer',
      normEps: num(['layer_norm_eps'], 1e-5),
      mlp: 'gelu',
      qkvBias: false,
      ropeTheta: num(['rope_theta'], 10000),
      tiedEmbeddings: true,
      maxPositions: int(['max_position_embeddings'], 'maxPositions'),
    },
  };
}

/** Each family's config reader; a family in familyTable.json without one here does not compile. */
const READERS: Record<Family, (r: ConfigReader) => ConfigReading> = {
  qwen2: readLlamaLike('qwen2'),
  llama: readLlamaLike('llama'),
  llada: readLlada,
  unmask: readUnmask,
};

/** Where each canonical tensor `spec` needs lies in a checkpoint of the family, from its names in familyTable.json. */
export function weightNames(spec: ArchSpec, weights: FamilyFacts['weights']): Map<string, TensorRef> {
  const names = new Map<string, TensorRef>();
  const put = (canonical: string, tensor: string, part?: { row: number; rows: number; of: number }) => names.set(canonical, { tensor, ...part });
  const withBias = spec.norm === 'layer';
  put(CANONICAL.embed, weights.embed);
  put(`${CANONICAL.finalNorm}.weight`, `${weights.final_norm}.weight`);
  if (withBias) put(`${CANONICAL.finalNorm}.bias`, `${weights.final_norm}.bias`);
  if (!spec.tiedEmbeddings && weights.lm_head) put(CANONICAL.lmHead, weights.lm_head);
  const { parts } = weights;
  for (let i = 0; i < spec.layers; i++) {
    const b = weights.layer.replace('{i}', String(i));
    for (const norm of ['attn_norm', 'mlp_norm'] as const) {
      put(`${CANONICAL.layer(i, norm)}.weight`, `${b}${parts[norm]}.weight`);
      if (withBias) put(`${CANONICAL.layer(i, norm)}.bias`, `${b}${parts[norm]}.bias`);
    }
    for (const [j, p] of (['q', 'k', 'v'] as const).entries()) {
      if (parts.fusedQkv) {
        // [3 · hidden, hidden]: rows q, then k, then v (model.py views it as (3, heads, head_dim))
        put(`${CANONICAL.layer(i, p)}.weight`, `${b}${parts.fusedQkv}.weight`, { row: j * spec.hidden, rows: spec.hidden, of: 3 * spec.hidden });
      } else {
        put(`${CANONICAL.layer(i, p)}.weight`, `${b}${parts[p]}.weight`);
        if (spec.qkvBias) put(`${CANONICAL.layer(i, p)}.bias`, `${b}${parts[p]}.bias`);
      }
    }
    for (const p of spec.mlp === 'swiglu' ? (['o', 'gate', 'up', 'down'] as const) : (['o', 'up', 'down'] as const)) {
      put(`${CANONICAL.layer(i, p)}.weight`, `${b}${parts[p]}.weight`);
    }
  }
  return names;
}

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
  const family = Object.hasOwn(MODEL_TYPES, modelType.toLowerCase()) ? MODEL_TYPES[modelType.toLowerCase()] : undefined;
  if (!family) {
    return fail(
      'model_type',
      `is ${JSON.stringify(rawType) ?? 'missing'}; supported: ${Object.keys(MODEL_TYPES).join(', ')} ` +
        `(${familyList('and')}, all with bidirectional attention)`,
    );
  }
  const reading = READERS[family]({ config, fail, get, int, num, flagOff });
  const spec: ArchSpec = { family, modelType, ...reading.spec, logitsShift: FAMILIES[family].logitsShift };
  if (spec.heads % spec.kvHeads) fail(reading.kvHeadsField, `(${spec.kvHeads}) does not divide the ${spec.heads} attention heads`);
  if (spec.headDim % 2) fail('head_dim', `is ${spec.headDim}; rotary positions need an even head size`);
  return { spec, vocabField: reading.vocabField, names: weightNames(spec, FAMILIES[family].weights) };
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
