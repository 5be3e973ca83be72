// The converter's reader: config.json of each family to an ArchSpec, safetensors read tensor by tensor into float32,
// and every refusal naming the file and the field, on checkpoints the tests write themselves.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../../src/convert/checkpoint';
import { f16Table, HALF_CHUNK, openSafetensors, readFloat32 } from '../../../src/convert/safetensors';
import { MERGES, tokenizerJson, writeCheckpoint, writeSafetensors, TINY, type FixtureFamily, type FixtureOptions } from './checkpointFixtures';

const ROOT = join(__dirname, '..', '..', '..', '.test-output', 'convert-checkpoint');
let n = 0;
const fresh = (name: string) => {
  const dir = join(ROOT, `${name}-${n++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
};
const make = (family: FixtureFamily, opts: FixtureOptions = {}) => {
  const dir = fresh(family);
  return { dir, tensors: writeCheckpoint(dir, family, opts) };
};
const editJson = (file: string, edit: (j: Record<string, unknown>) => void) => {
  const j = JSON.parse(readFileSync(file, 'utf8'));
  edit(j);
  writeFileSync(file, JSON.stringify(j));
};
async function refused(dir: string, pattern: RegExp, options?: { maskToken?: string }): Promise<string> {
  try {
    await openCheckpoint(dir, options);
  } catch (e) {
    const message = (e as Error).message;
    assert.match(message, pattern);
    return message;
  }
  assert.fail(`${dir} was read without complaint; expected ${pattern}`);
}

/** transformers' token ids of `texts` for the tokenizer it loads from `dir` (Python's side: bash training/install.sh). */
function transformersEncode(dir: string, texts: string[]): number[][] {
  const code = [
    'import json, sys',
    'from transformers import AutoTokenizer',
    'tokenizer = AutoTokenizer.from_pretrained(sys.argv[1])',
    'print(json.dumps([tokenizer.encode(t, add_special_tokens=False, split_special_tokens=True) for t in json.loads(sys.stdin.read())]))',
  ].join('\n');
  const run = spawnSync('python3', ['-c', code, dir], {
    input: JSON.stringify(texts),
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_VERBOSITY: 'error', OMP_NUM_THREADS: '1' },
  });
  if (run.status !== 0)
    throw new Error(`transformers could not load the slow tokenizer (bash training/install.sh):\n${(run.stderr || run.error?.message || '').slice(-3000)}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as number[][];
}

before(() => rmSync(ROOT, { recursive: true, force: true }));

describe('convert: safetensors', () => {
  it('converts BF16 and F16 bit patterns to float32 exactly (subnormals, infinities, signed zero)', async () => {
    const dir = fresh('dtypes');
    const bf16 = [0x3f80, 0xc020, 0x0001, 0x7f80, 0xff80, 0x8000, 0x3eab, 0x4049];
    const f16 = [0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0x8000, 0x3555];
    writeSafetensors(
      join(dir, 'x.safetensors'),
      [
        { name: 'bf', dtype: 'BF16', shape: [2, 4], values: bf16 },
        { name: 'h', dtype: 'F16', shape: [9], values: f16 },
        { name: 'f', dtype: 'F32', shape: [3], values: new Float32Array([1.5, -0.1, 3e-39]) },
      ],
      { bits: true },
    );
    const file = await openSafetensors(join(dir, 'x.safetensors'));
    const bf = await readFloat32(file, file.tensors.get('bf')!);
    assert.deepEqual([...bf], [1, -2.5, 2 ** -133, Infinity, -Infinity, -0, 0.333984375, 3.140625]);
    assert.ok(Object.is(bf[5], -0));
    const h = await readFloat32(file, file.tensors.get('h')!);
    assert.deepEqual([...h], [1, -2, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 65504, Infinity, -0, 0.333251953125]);
    assert.ok(Number.isNaN(f16Table()[0x7e00]));
    assert.deepEqual([...(await readFloat32(file, file.tensors.get('f')!))], [...new Float32Array([1.5, -0.1, 3e-39])]);
    // a run of elements from inside a tensor (one part of a fused weight)
    assert.deepEqual(
      [...(await readFloat32(file, file.tensors.get('bf')!, 3, 3))],
      [0x7f80, 0xff80, 0x8000].map((b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]),
    );
  });

  it("converts 16-bit tensors longer than one read buffer, across the buffer's edges", async () => {
    const dir = fresh('chunks');
    const n = HALF_CHUNK + 5;
    // finite patterns only (exponent bits never all ones), different on each side of every edge
    const pattern = (i: number) => (i * 2654435761) & 0x3bff;
    const values = Array.from({ length: n }, (_, i) => pattern(i));
    writeSafetensors(
      join(dir, 'c.safetensors'),
      [
        { name: 'a', dtype: 'F16', shape: [n], values },
        { name: 'b', dtype: 'BF16', shape: [n], values },
      ],
      { bits: true },
    );
    const file = await openSafetensors(join(dir, 'c.safetensors'));
    const h = await readFloat32(file, file.tensors.get('a')!);
    const b = await readFloat32(file, file.tensors.get('b')!);
    const bf = (bits: number) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
    for (const i of [0, 1, HALF_CHUNK - 1, HALF_CHUNK, HALF_CHUNK + 4]) {
      assert.equal(h[i], f16Table()[pattern(i)], `F16 element ${i}`);
      assert.equal(b[i], bf(pattern(i)), `BF16 element ${i}`);
    }
    // from inside the tensor, so the edge falls elsewhere
    const tail = await readFloat32(file, file.tensors.get('b')!, 3, HALF_CHUNK + 1);
    assert.equal(tail[HALF_CHUNK], bf(pattern(HALF_CHUNK + 3)));
    assert.equal(tail[HALF_CHUNK - 1], bf(pattern(HALF_CHUNK + 2)));
    rmSync(dir, { recursive: true });
  });

  it('reads one tensor at the far end of a sparse 6 GiB file without reading the rest', async () => {
    const dir = fresh('sparse');
    const path = join(dir, 'big.safetensors');
    const big = 6 * 2 ** 30;
    const header: Record<string, unknown> = {
      huge: { dtype: 'F32', shape: [big / 4], data_offsets: [0, big] },
      tail: { dtype: 'BF16', shape: [4], data_offsets: [big, big + 8] },
    };
    let text = JSON.stringify(header);
    while (text.length % 8) text += ' ';
    const fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(text.length));
    writeSync(fd, len, 0, 8, 0);
    writeSync(fd, Buffer.from(text), 0, text.length, 8);
    const tail = Buffer.from(new Uint16Array([0x3f80, 0x4000, 0xc040, 0x0000]).buffer);
    writeSync(fd, tail, 0, 8, 8 + text.length + big); // the rest of the file is a hole: never written, never on disk
    closeSync(fd);
    const rss = process.memoryUsage().rss;
    const file = await openSafetensors(path);
    assert.equal(file.size, 8 + text.length + big + 8);
    assert.deepEqual([...(await readFloat32(file, file.tensors.get('tail')!))], [1, 2, -3, 0]);
    // reading all of it would have taken gigabytes (a Buffer of the file could not even be made)
    assert.ok(process.memoryUsage().rss - rss < 256 * 2 ** 20, 'memory grew by more than 256 MiB');
    unlinkSync(path);
  });

  it('refuses a corrupt or truncated file, naming the file and what is wrong', async () => {
    const dir = fresh('corrupt');
    const good = [{ name: 'w', dtype: 'F32' as const, shape: [2, 3], values: new Float32Array(6) }];
    const at = (name: string) => join(dir, name);

    writeFileSync(at('short.safetensors'), Buffer.from([1, 2, 3]));
    await assert.rejects(openSafetensors(at('short.safetensors')), /short\.safetensors: truncated: 3 bytes/);

    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1000n);
    writeFileSync(at('len.safetensors'), Buffer.concat([len, Buffer.from('{}')]));
    await assert.rejects(
      openSafetensors(at('len.safetensors')),
      /len\.safetensors: truncated or corrupt: the header length 1000 reaches beyond the file's 10 bytes/,
    );

    len.writeBigUInt64LE(4n);
    writeFileSync(at('json.safetensors'), Buffer.concat([len, Buffer.from('{"w"')]));
    await assert.rejects(openSafetensors(at('json.safetensors')), /json\.safetensors: corrupt: the header is not valid JSON/);

    writeSafetensors(at('trunc.safetensors'), good);
    const size = readFileSync(at('trunc.safetensors')).length;
    truncateSync(at('trunc.safetensors'), size - 4);
    await assert.rejects(
      openSafetensors(at('trunc.safetensors')),
      /trunc\.safetensors: corrupt header: tensor "w" has data_offsets \[0, 24\] reaching beyond the file \(20 bytes of data\): the file is truncated/,
    );

    writeSafetensors(at('shape.safetensors'), good, {
      editHeader: (h) => {
        (h.w as { shape: number[] }).shape = [2, 4];
      },
    });
    await assert.rejects(
      openSafetensors(at('shape.safetensors')),
      /shape\.safetensors: corrupt header: tensor "w" has shape \[2, 4\] × F32 = 32 bytes, but its data_offsets span 24/,
    );

    writeSafetensors(at('order.safetensors'), good, {
      editHeader: (h) => {
        (h.w as { data_offsets: number[] }).data_offsets = [24, 0];
      },
    });
    await assert.rejects(openSafetensors(at('order.safetensors')), /tensor "w" has data_offsets \[24, 0\] that end before they begin/);
  });
});

describe('convert: openCheckpoint', () => {
  it('reads a Qwen2 checkpoint: spec, special tokens, and each tensor as written', async () => {
    const { dir, tensors } = make('qwen2', { dtype: 'BF16' });
    const c = await openCheckpoint(dir);
    const { hidden, layers, heads, kvHeads, headDim, ffn } = TINY;
    assert.deepEqual(c.spec, {
      family: 'qwen2',
      modelType: 'qwen2',
      vocabSize: c.tokenizer.vocabSize,
      hidden,
      layers,
      heads,
      kvHeads,
      headDim,
      intermediate: ffn,
      norm: 'rms',
      normEps: 1e-6,
      mlp: 'swiglu',
      qkvBias: true,
      ropeTheta: 10000,
      tiedEmbeddings: true,
      maxPositions: 256,
      logitsShift: 1,
    });
    const mask = c.tokenizer.vocabSize - 1; // <|mask|> is the last added token
    assert.deepEqual(c.tokens, { mask, pad: mask - 1, eos: mask - 1, bos: null });
    assert.equal(c.tensors.has('lm_head.weight'), false, 'tied: no output projection of its own');
    for (const [canonical, original] of [
      ['embed', 'model.embed_tokens.weight'],
      ['layers.0.k.bias', 'model.layers.0.self_attn.k_proj.bias'],
      ['layers.0.down.weight', 'model.layers.0.mlp.down_proj.weight'],
      ['final_norm.weight', 'model.norm.weight'],
    ]) {
      assert.deepEqual(c.tensors.shape(canonical), tensors.get(original)!.shape);
      assert.deepEqual([...(await c.tensors.read(canonical))], [...tensors.get(original)!.values], canonical);
    }
    assert.deepEqual(c.tensors.shape('embed.weight'), c.tensors.shape('embed'));
    assert.throws(() => c.tensors.shape('layers.0.gate.bias'), /tensor "layers.0.gate.bias" is not part of this qwen2 checkpoint/);
  });

  it('reads a sharded F16 checkpoint through model.safetensors.index.json', async () => {
    const { dir, tensors } = make('llama', { dtype: 'F16', shards: 3 });
    const c = await openCheckpoint(dir);
    assert.equal(c.files.length, 3);
    assert.equal(c.spec.tiedEmbeddings, false);
    assert.equal(c.spec.logitsShift, 0);
    assert.equal(c.spec.qkvBias, false);
    for (const [canonical, original] of [
      ['lm_head.weight', 'lm_head.weight'],
      ['layers.0.q.weight', 'model.layers.0.self_attn.q_proj.weight'],
      ['layers.0.gate.weight', 'model.layers.0.mlp.gate_proj.weight'],
      ['layers.0.mlp_norm.weight', 'model.layers.0.post_attention_layernorm.weight'],
    ]) {
      assert.deepEqual([...(await c.tensors.read(canonical))], [...tensors.get(original)!.values], canonical);
    }
    // the index decides where a tensor is: one it places in a file that lacks it is refused
    editJson(join(dir, 'model.safetensors.index.json'), (j) => {
      const map = j.weight_map as Record<string, string>;
      map['model.norm.weight'] = map['model.norm.weight'].endsWith('1-of-00003.safetensors')
        ? 'model-00002-of-00003.safetensors'
        : 'model-00001-of-00003.safetensors';
    });
    await refused(
      dir,
      /model-0000[12]-of-00003\.safetensors: tensor "model\.norm\.weight" is missing, though model\.safetensors\.index\.json places it in this file/,
    );
    editJson(join(dir, 'model.safetensors.index.json'), (j) => {
      (j.weight_map as Record<string, string>)['model.norm.weight'] = 'gone.safetensors';
    });
    await refused(dir, /model\.safetensors\.index\.json: field "weight_map" names gone\.safetensors \(tensor "model\.norm\.weight"\), which is missing/);
  });

  it("reads Dream's model_type as the Qwen2 family, shifted", async () => {
    const { dir } = make('dream', { config: { mask_token_id: undefined } });
    const c = await openCheckpoint(dir);
    assert.equal(c.spec.family, 'qwen2');
    assert.equal(c.spec.modelType, 'Dream');
    assert.equal(c.spec.logitsShift, 1);
    assert.equal(c.spec.tiedEmbeddings, false);
  });

  it("reads LLaDA's names and config fields", async () => {
    const { dir, tensors } = make('llada');
    const c = await openCheckpoint(dir);
    assert.equal(c.spec.family, 'llada');
    assert.equal(c.spec.logitsShift, 0);
    assert.equal(c.spec.normEps, 1e-5);
    assert.equal(c.spec.ropeTheta, 500000);
    assert.equal(c.spec.kvHeads, TINY.kvHeads);
    for (const [canonical, original] of [
      ['layers.0.gate.weight', 'model.transformer.blocks.0.ff_proj.weight'],
      ['layers.0.down.weight', 'model.transformer.blocks.0.ff_out.weight'],
      ['layers.0.o.weight', 'model.transformer.blocks.0.attn_out.weight'],
      ['lm_head.weight', 'model.transformer.ff_out.weight'],
      ['layers.0.mlp_norm.weight', 'model.transformer.blocks.0.ff_norm.weight'],
    ]) {
      assert.deepEqual([...(await c.tensors.read(canonical))], [...tensors.get(original)!.values], canonical);
    }
  });

  it("splits the bundled model's fused qkv into q, k and v rows", async () => {
    const { dir, tensors } = make('unmask');
    const c = await openCheckpoint(dir);
    assert.equal(c.spec.norm, 'layer');
    assert.equal(c.spec.mlp, 'gelu');
    assert.equal(c.spec.kvHeads, c.spec.heads);
    const base = c.tokenizer.vocabSize - 4; // the fixture's <|pad|> <|eos|> <|bos|> <|mask|>
    assert.deepEqual(c.tokens, { mask: base + 3, pad: base, eos: base + 1, bos: null });
    const qkv = tensors.get('blocks.0.qkv.weight')!.values as Float32Array;
    const h = TINY.hidden;
    for (const [j, part] of ['q', 'k', 'v'].entries()) {
      assert.deepEqual(c.tensors.shape(`layers.0.${part}.weight`), [h, h]);
      assert.deepEqual([...(await c.tensors.read(`layers.0.${part}.weight`))], [...qkv.subarray(j * h * h, (j + 1) * h * h)], part);
    }
    assert.deepEqual([...(await c.tensors.read('final_norm.bias'))], [...tensors.get('ln_f.bias')!.values]);
    assert.deepEqual([...(await c.tensors.read('layers.0.attn_norm.bias'))], [...tensors.get('blocks.0.ln1.bias')!.values]);
  });

  it("cuts the embedding's padding rows to the tokenizer's vocabulary", async () => {
    const { dir, tensors } = make('llama', { spareRows: 5 });
    const c = await openCheckpoint(dir);
    assert.equal(c.checkpointVocab, c.spec.vocabSize + 5);
    assert.deepEqual(c.tensors.shape('lm_head.weight'), [c.spec.vocabSize, TINY.hidden]);
    const head = await c.tensors.read('lm_head.weight');
    assert.deepEqual([...head], [...(tensors.get('lm_head.weight')!.values as Float32Array).subarray(0, c.spec.vocabSize * TINY.hidden)]);
  });
});

describe('convert: refusals name the file and the field', () => {
  const config = (family: FixtureFamily, edit: Record<string, unknown>) => make(family, { config: edit }).dir;

  it('refuses what export_pretrained refused: model_type, activation, sliding window, rope scaling, MLP bias, dtype, missing files', async () => {
    await refused(config('qwen2', { model_type: 'gpt2' }), /config\.json: field "model_type" is "gpt2"; supported: qwen2, dream, llama, llada, unmask/);
    await refused(config('llama', { hidden_act: 'gelu' }), /config\.json: field "hidden_act" is "gelu"; only "silu"/);
    await refused(config('qwen2', { use_sliding_window: true }), /config\.json: field "use_sliding_window" is true/);
    await refused(config('llama', { rope_scaling: { rope_type: 'yarn', factor: 4 } }), /config\.json: field "rope_scaling" has rope_type "yarn"/);
    await refused(config('llama', { rope_parameters: { rope_type: 'llama3', rope_theta: 1 } }), /config\.json: field "rope_parameters" has rope_type "llama3"/);
    await refused(config('llama', { mlp_bias: true }), /config\.json: field "mlp_bias" is true/);
    await refused(
      config('llama', { num_key_value_heads: 3, num_attention_heads: 2 }),
      /field "num_key_value_heads" \(3\) does not divide the 2 attention heads/,
    );
    await refused(config('qwen2', { hidden_size: undefined }), /config\.json: field "hidden_size" is missing/);

    const int8 = make('llama', { dtype: 'I8' }).dir;
    await refused(int8, /model\.safetensors: tensor "model\.embed_tokens\.weight" has dtype I8; expected one of F32, F16, BF16/);

    const noWeights = make('qwen2').dir;
    unlinkSync(join(noWeights, 'model.safetensors'));
    await refused(noWeights, /no \*\.safetensors file \(PyTorch \.bin\/\.pt checkpoints are not read/);

    const noTokenizer = make('qwen2').dir;
    unlinkSync(join(noTokenizer, 'tokenizer.json'));
    await refused(noTokenizer, /tokenizer\.json: missing, and there is no vocab\.json \+ merges\.txt to convert/);

    const noConfig = make('qwen2').dir;
    unlinkSync(join(noConfig, 'config.json'));
    await refused(noConfig, /config\.json: missing/);
  });

  it("refuses a config whose vocab_size is not the embedding's rows, and a missing tensor", async () => {
    const { dir } = make('qwen2');
    editJson(join(dir, 'config.json'), (j) => {
      j.vocab_size = (j.vocab_size as number) + 3;
    });
    await refused(dir, /config\.json: field "vocab_size" is \d+, but the embedding "model\.embed_tokens\.weight" in model\.safetensors has \d+ rows/);
    await refused(
      make('llada', { config: { embedding_size: 9999 } }).dir,
      /field "embedding_size" is 9999, but the embedding "model\.transformer\.wte\.weight"/,
    );
    await refused(
      make('llama', { drop: ['model.layers.0.mlp.up_proj.weight'] }).dir,
      /model\.safetensors: tensor "model\.layers\.0\.mlp\.up_proj\.weight" is missing/,
    );
    await refused(make('llama', { shards: 2, drop: ['lm_head.weight'] }).dir, /model\.safetensors\.index\.json: tensor "lm_head\.weight" is missing/);
    await refused(
      make('llama', { config: { intermediate_size: 12 } }).dir,
      /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[16, 8\], but config\.json implies \[12, 8\]/,
    );
    await refused(make('llama', { config: { tie_word_embeddings: true, vocab_size: undefined } }).dir, /field "vocab_size" is missing/);
  });

  it('refuses LLaDA flags that change the forward, rather than ignoring them', async () => {
    for (const [field, value] of [
      ['input_emb_norm', true],
      ['attention_layer_norm', true],
      ['clip_qkv', 8],
      ['scale_logits', true],
      ['alibi', true],
      ['include_bias', true],
    ] as const) {
      await refused(config('llada', { [field]: value }), new RegExp(`config\\.json: field "${field}" is ${JSON.stringify(value)}; .* is not supported`));
    }
    await refused(config('llada', { layer_norm_type: 'default' }), /field "layer_norm_type" is "default"; only "rms"/);
    await refused(config('llada', { layer_norm_type: 'gemma_rms' }), /field "layer_norm_type" is "gemma_rms"; only "rms"/);
    await refused(config('llada', { layer_norm_type: undefined }), /field "layer_norm_type" is missing; LLaDA's default is a LayerNorm/);
    await refused(config('llada', { block_type: 'sequential' }), /field "block_type" is "sequential"/);
    await refused(config('llada', { rope: false }), /field "rope" is false; only rotary positions/);
    await refused(config('llada', { rope: undefined }), /field "rope" is missing; only rotary positions/);
  });

  it('refuses a bundled-model config that describes another forward', async () => {
    await refused(config('unmask', { hidden_act: 'gelu_tanh' }), /field "hidden_act" is "gelu_tanh", expected "gelu" \(training\/model\.py's architecture\)/);
    await refused(config('unmask', { qkv: 'separate' }), /field "qkv" is "separate", expected "fused"/);
    await refused(config('unmask', { tie_word_embeddings: false }), /field "tie_word_embeddings" is false, expected true/);
  });

  it('refuses a mask token that is in the vocabulary but not special, and says so', async () => {
    const { dir } = make('llama', { specials: ['<|endoftext|>'], plain: ['<|mask|>'] });
    await refused(dir, /tokenizer\.json: the mask token "<\|mask\|>" is in the vocabulary \(id \d+\) but is not a special token of added_tokens/);
    await refused(dir, /the --mask-token token "<\|mask\|>" is in the vocabulary/, { maskToken: '<|mask|>' });
    const byId = make('qwen2', { specials: ['<|endoftext|>', '<|mask|>'], config: { mask_token_id: 5 } }).dir;
    await refused(byId, /the mask token id 5 \("\S+"\) is not a special token of added_tokens/);
  });

  it('without a mask token, says to pass --mask-token, which then adds it as a special token', async () => {
    const { dir } = make('llama', { specials: ['<|endoftext|>'], spareRows: 2 });
    await refused(dir, /no mask token: .*config\.json has no "mask_token_id", .*pass --mask-token TEXT/);
    const c = await openCheckpoint(dir, { maskToken: '<|mdm_mask|>' });
    assert.equal(c.addedMask, true);
    assert.equal(c.tokens.mask, c.checkpointVocab - 2, "the id after the tokenizer's last");
    assert.equal(c.spec.vocabSize, c.tokens.mask + 1);
    const added = c.tokenizerJson.added_tokens!.find((t) => t.content === '<|mdm_mask|>')!;
    assert.deepEqual([added.id, added.special], [c.tokens.mask, true]);
    assert.deepEqual(c.tokenizer.encode('x<|mdm_mask|>').length > 1, true, 'text that spells it stays text');
    assert.equal(c.tokenizer.idToToken(c.tokens.mask), '<|mdm_mask|>');
    // no embedding row for it: refused rather than given a row the model never learnt
    const full = make('llama', { specials: ['<|endoftext|>'] }).dir;
    await refused(full, /the tokenizer has \d+ tokens, more than the \d+ rows .*--mask-token "<\|mdm_mask\|>" was added as id \d+/, {
      maskToken: '<|mdm_mask|>',
    });
  });

  it('converts a slow Qwen2 tokenizer (vocab.json + merges.txt) and says what to do for others', async () => {
    const { dir } = make('qwen2', { specials: ['<|endoftext|>', '<|mask|>'] });
    const original = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
    const fast = await openCheckpoint(dir);
    unlinkSync(join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(original.model.vocab));
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${MERGES.join('\n')}\n`);
    await refused(
      dir,
      /tokenizer\.json: missing; vocab\.json \+ merges\.txt are converted only for Qwen2Tokenizer.*"tokenizer_class" is missing .*save_pretrained/,
    );
    const decoder = Object.fromEntries(
      original.added_tokens.map((t: { id: number; content: string }) => [
        String(t.id),
        { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      ]),
    );
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'Qwen2Tokenizer', added_tokens_decoder: decoder }));
    const slow = await openCheckpoint(dir);
    assert.equal(slow.tokenizerConverted, true);
    assert.deepEqual(slow.tokens, fast.tokens);
    assert.equal(slow.tokenizer.vocabDigest(), fast.tokenizer.vocabDigest());
    assert.ok(slow.tokenizer.encode(' tre').length === 1, 'the merges were read');
    // the reference is transformers' own conversion of the same vocab.json + merges.txt (AutoTokenizer, as a user of
    // the checkpoint loads it), not a tokenizer.json written by these tests; split_special_tokens: the runtime never
    // reads a special token out of the user's text ("<|mask|>" typed in code stays text)
    const texts = [
      "def f(x):\n    return tree['s'] + 'dé' <|mask|>\n",
      "It's they'll WE'RE you'VE I'M 1234567 x2 ½ ٣\r\n\r\n  \t\tend  ",
      'naïve café 日本語 😀 — “quotes”\n\n\n    trailing   ',
      'cafe\u0301 (NFC) a<|endoftext|>b <|mask|><|mask|> Ġ ĠĊ',
      '    if (a) {\n\t\treturn b;  // tre tre\n    }\n',
    ];
    const reference = transformersEncode(dir, texts);
    texts.forEach((text, i) => assert.deepEqual(slow.tokenizer.encode(text), reference[i], JSON.stringify(text)));
  });

  it('refuses a missing folder, a missing eos id and a mask id that is also eos', async () => {
    await refused(join(ROOT, 'nowhere'), /nowhere: checkpoint folder not found/);
    await refused(make('llama', { config: { eos_token_id: undefined } }).dir, /config\.json: field "eos_token_id" is missing/);
    const same = make('qwen2');
    editJson(join(same.dir, 'config.json'), (j) => {
      j.mask_token_id = j.eos_token_id;
    });
    await refused(same.dir, /tokenizer\.json: the mask token id \d+ is also the pad or eos id/);
  });

  it('refuses two files that both hold a tensor when no index says which', async () => {
    const { dir, tensors } = make('llama');
    writeSafetensors(join(dir, 'extra.safetensors'), [tensors.get('model.norm.weight')!]);
    await refused(dir, /model\.safetensors: tensor "model\.norm\.weight" is also in extra\.safetensors/);
  });
});

// the fixture tokenizer must itself be what the tests think it is
describe('convert: test fixtures', () => {
  it('writes a byte-level tokenizer whose merges apply', async () => {
    const { dir } = make('qwen2');
    const c = await openCheckpoint(dir);
    assert.equal(c.tokenizer.encode(' tre').length, 1);
    assert.equal(c.tokenizer.vocabSize, Object.keys((tokenizerJson(['a', 'b']).model as { vocab: object }).vocab).length + 2);
  });
});
