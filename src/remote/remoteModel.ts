// The team server as the engine's model (serve/README.md): the decode loop, policies, gate, visualizer and trace stay
// in the editor; each forward is one KServe v2 infer of the model's graph on the server. Full forwards only (the server
// keeps no keys and values per editor: serve/README.md, "Stateless", says why and what it measured), so a model folder
// without `cache` in its manifest completes with the same text as the local folder.
//
// Tokenizer and manifest: the server's model metadata carries the manifest (parameters.unmask_manifest) and the
// tokenizer's SHA-256; the tokenizer comes from a local folder when one is given (checked against the manifest's
// vocabDigest), else from the server (GET /unmask/v1/models/NAME/tokenizer.json, checked the same way). A server without
// the Unmask parameters (Triton) needs the local folder for the manifest too.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GRAPH } from '../contract/graph';
import { FILE_LIMITS } from '../engine/bounds';
import { CancelledError, type Denoiser, type ModelSpec, type Prediction } from '../engine/types';
import { ErrorCodes, UnmaskError, type ModelInfo } from '../protocol';
import { MANIFEST_FILE, modelSpecOf, parseManifest, type Manifest } from '../contract/manifest';
import { CodeTokenizer } from '../model/tokenizer';
import { withinJsonBudget, TOKENIZER_BUDGET } from '../model/jsonBudget';
import { KServeClient, type ServerOptions, type Tensor } from './kserve';

export interface RemoteOptions extends ServerOptions {
  /** A local copy of the model folder's manifest and tokenizer (required for servers that do not send the manifest). */
  modelDir?: string;
  signal?: AbortSignal;
}

interface Metadata {
  name: string;
  inputs?: { name: string; shape: number[] }[];
  parameters?: { unmask_manifest?: unknown; tokenizer_sha256?: string };
}

/** One forward is one infer: the canvas as input_ids [1, L], no past rows, the wanted positions. */
export class RemoteDenoiser implements Denoiser {
  forwards = 0;

  constructor(
    readonly client: KServeClient,
    readonly model: string,
    readonly topK: number,
    /** past_kv's sizes: [layers, 2, batch, kvHeads, rows, headDim]; absent: the server's graph takes no start and
     * past_kv (the full-forward wrapper of serve/triton.py). */
    private readonly kvShape: number[] | undefined,
  ) {}

  async forward(canvas: readonly number[], positions: readonly number[], signal?: AbortSignal): Promise<Prediction[]> {
    if (signal?.aborted) throw new CancelledError();
    const past = this.kvShape ? [...this.kvShape] : undefined;
    if (past) [past[2], past[4]] = [1, 0];
    const int64 = (xs: readonly number[]) => BigInt64Array.from(xs, (x) => BigInt(x));
    const inputs: Tensor[] = [
      { name: GRAPH.inputs.ids, datatype: 'INT64', shape: [1, canvas.length], data: int64(canvas) },
      ...(past
        ? ([
            { name: GRAPH.inputs.start, datatype: 'INT64', shape: [1], data: int64([0]) },
            { name: GRAPH.inputs.pastKv, datatype: 'FP32', shape: past, data: new Float32Array(0) },
          ] satisfies Tensor[])
        : []),
      { name: GRAPH.inputs.positions, datatype: 'INT64', shape: [1, positions.length], data: int64(positions) },
    ];
    const out = await this.client.infer(this.model, inputs, [GRAPH.outputs.topIds, GRAPH.outputs.topProbs, GRAPH.outputs.entropy], signal);
    this.forwards++;
    const n = positions.length;
    const k = this.topK;
    const ids = tensorOf(out, GRAPH.outputs.topIds, 'INT64', n * k) as BigInt64Array;
    const probs = tensorOf(out, GRAPH.outputs.topProbs, 'FP32', n * k) as Float32Array;
    const entropy = tensorOf(out, GRAPH.outputs.entropy, 'FP32', n) as Float32Array;
    const result: Prediction[] = [];
    for (let j = 0; j < n; j++) {
      result.push({
        ids: Int32Array.from(ids.subarray(j * k, (j + 1) * k), (x) => Number(x)),
        probs: probs.slice(j * k, (j + 1) * k),
        entropy: entropy[j],
      });
    }
    return result;
  }
}

function tensorOf(out: Map<string, Tensor>, name: string, datatype: Tensor['datatype'], size: number): Tensor['data'] {
  const t = out.get(name);
  if (!t || t.datatype !== datatype || t.data.length !== size) {
    throw new UnmaskError(ErrorCodes.decode, `the Unmask server's answer has no ${name} of ${size} ${datatype} values (is it serving an Unmask graph?)`);
  }
  return t.data;
}

export interface RemoteModel {
  info: ModelInfo;
  manifest: Manifest;
  model: ModelSpec;
  tokenizer: CodeTokenizer;
  denoiser: RemoteDenoiser;
  warnings: string[];
  dispose(): Promise<void>;
}

/** Connects to the server: its model's metadata, manifest and tokenizer, all checked before anything is returned. */
export async function connectRemote(o: RemoteOptions): Promise<RemoteModel> {
  const t0 = performance.now();
  const client = new KServeClient(o);
  const name = client.modelInUrl ?? (await client.get<{ name: string }>('/unmask/v1/model', o.signal)).name;
  const meta = await client.get<Metadata>(`/v2/models/${encodeURIComponent(name)}`, o.signal);
  const where = `${client.base} model ${name}`;
  const local = o.modelDir ? path.resolve(o.modelDir) : undefined;
  let manifest: Manifest;
  if (meta.parameters?.unmask_manifest !== undefined) {
    manifest = parseManifest(JSON.stringify(meta.parameters.unmask_manifest), `${where} (metadata parameters.unmask_manifest)`);
  } else if (local) {
    manifest = parseManifest(readLimited(path.join(local, MANIFEST_FILE), FILE_LIMITS.manifest), path.join(local, MANIFEST_FILE));
  } else {
    throw new UnmaskError(
      ErrorCodes.modelLoad,
      `${where} sends no Unmask manifest (a plain KServe server, e.g. Triton): give the model folder's local copy too (--model DIR)`,
    );
  }
  const inputs = new Map((meta.inputs ?? []).map((i) => [i.name, i.shape]));
  // the whole graph, or its full-forward wrapper (serve/triton.py: input_ids and positions only)
  const missing = [GRAPH.inputs.ids, GRAPH.inputs.positions].filter((n) => !inputs.has(n));
  if (missing.length) throw new UnmaskError(ErrorCodes.modelLoad, `${where} is not an Unmask graph: it has no input ${missing.join(', ')}`);
  const kvShape = inputs.get(GRAPH.inputs.pastKv);
  if (kvShape && kvShape.length !== 6)
    throw new UnmaskError(ErrorCodes.modelLoad, `${where}: ${GRAPH.inputs.pastKv} is [${kvShape.join(', ')}], expected 6 sizes`);

  let tokenizerText: string;
  let tokenizerFrom: string;
  if (local) {
    tokenizerFrom = path.join(local, manifest.files.tokenizer);
    tokenizerText = readLimited(tokenizerFrom, FILE_LIMITS.tokenizer);
  } else {
    tokenizerFrom = `${client.base}/unmask/v1/models/${name}/tokenizer.json`;
    tokenizerText = JSON.stringify(await client.get<unknown>(`/unmask/v1/models/${encodeURIComponent(name)}/tokenizer.json`, o.signal));
  }
  const tokenizer = new CodeTokenizer(JSON.parse(withinJsonBudget(tokenizerText, tokenizerFrom, TOKENIZER_BUDGET)));
  // the same ids as the server's model, or nothing: a tokenizer whose ids mean other text would complete garbage
  if (tokenizer.vocabSize !== manifest.vocabSize || (manifest.vocabDigest !== undefined && tokenizer.vocabDigest() !== manifest.vocabDigest)) {
    throw new UnmaskError(
      ErrorCodes.modelLoad,
      `${tokenizerFrom} is not the tokenizer of ${where}: its vocabulary (${tokenizer.vocabSize} tokens) differs from the manifest's (vocabSize ${manifest.vocabSize}, vocabDigest)`,
    );
  }
  const denoiser = new RemoteDenoiser(client, name, manifest.topK, kvShape);
  const model: ModelSpec = modelSpecOf(manifest);
  const warnings = manifest.cache
    ? [`${where}: the server runs full forwards, so this model's dual cache (unmask.json "cache") is not used; its text may differ from the local folder's`]
    : [];
  return {
    info: {
      name: manifest.name,
      modelDir: `${client.base}/v2/models/${name}`,
      vocabSize: manifest.vocabSize,
      maxSequence: manifest.maxSequence,
      executionProvider: 'remote',
      threads: 0,
      loadMs: Math.round(performance.now() - t0),
    },
    manifest,
    model,
    tokenizer,
    denoiser,
    warnings,
    dispose: () => Promise.resolve(),
  };
}

function readLimited(file: string, limit: number): string {
  const size = fs.statSync(file).size;
  if (size > limit) throw new UnmaskError(ErrorCodes.modelLoad, `${file} is ${size} bytes, more than ${limit}`);
  return fs.readFileSync(file, 'utf8');
}
