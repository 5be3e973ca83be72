// A model folder (docs/model-contract.md) loaded whole or not at all: every check runs before anything is kept.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ort } from './ort';
import { GRAPH } from '../contract/graph';
import { FILE_LIMITS } from '../engine/bounds';
import type { ModelSpec } from '../engine/types';
import type { ExecutionProviderSetting, ModelInfo } from '../protocol';
import { MANIFEST_FILE, ModelFolderError, modelSpecOf, parseManifest, type Manifest } from '../contract/manifest';
import { createSession, OnnxDenoiser, threadsFor } from './onnxDenoiser';
import { GRAPH_INPUTS, GRAPH_OUTPUTS, GraphContractError, kvShapeOf, ModelGraph } from './modelGraph';
import { CodeTokenizer } from './tokenizer';
import { CachedDenoiser } from './cachedDenoiser';
import { rotaryFrequencies } from './kvReuse';
import { chooseDraftWidth } from '../engine/draft';
import { FEATURE_COUNT, FEATURE_NAMES } from '../engine/signals';
import { OnnxSlotFilter } from './slotFilter';
import { checkRegularFile, readBoundedJson, readBoundedText } from './boundedFile';
import { withinJsonBudget, TOKENIZER_BUDGET } from './jsonBudget';
import { checkFiniteOutputs, modelWarnings } from './probe';
import { availableParallelism } from 'node:os';
import { cpuKey, machineLoad, measureCost, measuredBusy, type CostMeasurement } from './costModel';
import { costKey, folderFingerprint, readLoadCache, writeLoadCache, type LoadCache } from './loadCache';
import { decodeMs, type ForwardCost } from '../engine/plan';

export interface LoadOptions {
  executionProvider?: ExecutionProviderSetting;
  threads?: number;
  /** Decode with the dual cache: true or false; absent: when the manifest has `cache` (the model's choice). */
  cache?: boolean;
  /** With the cache: at most this many window forwards between two refreshes (default: the manifest's
   * `cache.stepsPerRefresh`, else once per block only). */
  stepsPerRefresh?: number;
  /** With the cache: rows next to the block that each step recomputes (default: the manifest's `cache.windowMargin`, else 0). */
  windowMargin?: number;
  /** Use and keep `.unmask-cache.json` (loadCache.ts): skip the slow probes and the cost measurement a folder passed before. Default true. */
  loadCache?: boolean;
}

export interface LoadedModel {
  info: ModelInfo;
  manifest: Manifest;
  /** The manifest facts the engine needs; a LoadedModel is an engine Decoder. */
  model: ModelSpec;
  tokenizer: CodeTokenizer;
  denoiser: OnnxDenoiser | CachedDenoiser;
  /** The learned unmasking filter, when the folder has one (files.filter). */
  filter?: OnnxSlotFilter;
  /** What the slow load-time probes warned about (modelWarnings), measured now or read from the load cache. */
  warnings: string[];
  /** The model's cost on this machine at its thread count (the plan of every request reads it). */
  cost: ForwardCost;
  /** `+draft`'s K on this machine, from the measured batched steps (engine/draft.ts chooseDraftWidth): 1 where a batch does not pay. */
  draftWidth: number;
  dispose(): Promise<void>;
}

/** The bundled model, relative to the repository (or the installed extension) root. */
export function defaultModelDir(root = path.resolve(__dirname, '..', '..')): string {
  return path.join(root, 'models', 'default');
}

/** Reads and checks manifest and tokenizer (no graph); throws ModelFolderError naming the problem. */
export function readModelFolder(modelDir: string): { manifest: Manifest; tokenizer: CodeTokenizer; modelFile: string } {
  const dir = path.resolve(modelDir);
  const dirStat = statOf(dir);
  if (!dirStat.ok) throw new ModelFolderError(dir, dirStat.code === 'ELOOP' ? 'is a symlink loop' : 'model folder not found');
  if (!dirStat.stat.isDirectory()) throw new ModelFolderError(dir, 'model folder not found (it is not a folder)');
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifest = parseManifest(withinJsonBudget(readBoundedText(manifestFile, { limit: FILE_LIMITS.manifest }), manifestFile), manifestFile);

  const modelFile = path.join(dir, manifest.files.model);
  checkRegularFile(modelFile, { limit: FILE_LIMITS.model, namedBy: `${MANIFEST_FILE} files.model`, field: 'files.model' });
  // the graph's weights, beside it (onnxruntime would otherwise fail later with a message that names neither file)
  checkRegularFile(path.join(dir, GRAPH.weightsFile(manifest.files.model)), {
    limit: FILE_LIMITS.weights,
    namedBy: `${MANIFEST_FILE} files.model: the graph's weights, as external data beside it`,
    field: 'files.model',
  });
  const tokenizerFile = path.join(dir, manifest.files.tokenizer);
  // the tokenizer's budget caps its vocabulary and merges before the tokenizer library walks them
  const tokenizerJson = readBoundedJson(tokenizerFile, { limit: FILE_LIMITS.tokenizer, namedBy: `${MANIFEST_FILE} files.tokenizer`, budget: TOKENIZER_BUDGET });
  let tokenizer: CodeTokenizer;
  try {
    tokenizer = new CodeTokenizer(tokenizerJson);
  } catch (e) {
    throw new ModelFolderError(tokenizerFile, `cannot be loaded as a tokenizer: ${firstLine(e)}`);
  }
  checkTokenizerAgrees(manifest, tokenizer, manifestFile, tokenizerFile);
  return { manifest, tokenizer, modelFile };
}

type StatResult = { ok: true; stat: fs.Stats } | { ok: false; code: string };
function statOf(file: string): StatResult {
  try {
    return { ok: true, stat: fs.statSync(file) };
  } catch (e) {
    return { ok: false, code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** Loads the folder: manifest, tokenizer, graph, and a probe forward that checks the graph against the manifest. */
export async function loadModel(modelDir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const t0 = performance.now();
  const dir = path.resolve(modelDir);
  const { manifest, tokenizer, modelFile } = readModelFolder(dir);
  const manifestFile = path.join(dir, MANIFEST_FILE);

  const cached = options.cache ?? manifest.cache !== undefined;
  const useCache = options.loadCache ?? true;
  const files = [
    manifest.files.model,
    GRAPH.weightsFile(manifest.files.model),
    manifest.files.tokenizer,
    ...(manifest.files.filter ? [manifest.files.filter] : []),
  ];
  const loadCache = useCache ? readLoadCache(dir, folderFingerprint(dir, files)) : undefined;
  const probed = loadCache?.probes !== undefined;
  const open = async (threads: number, slowProbes: boolean) => {
    let choice;
    try {
      choice = await createSession(modelFile, options.executionProvider ?? 'auto', threads);
    } catch (e) {
      throw new ModelFolderError(modelFile, `is not a loadable ONNX graph (truncated or corrupt?): ${firstLine(e)}`);
    }
    try {
      return { choice, graph: await checkGraph(choice.session, manifest, modelFile, manifestFile, slowProbes) };
    } catch (e) {
      await choice.session.release().catch(() => undefined);
      throw e;
    }
  };
  // threads on auto: half the cores or all of them (up to 4), whichever this model runs faster here. Both costs in the
  // load cache decide before any session opens; otherwise both sessions are measured (the second skips the slow probes,
  // which check the folder, not the session) and the slower is released.
  const typical = (c: ForwardCost) => decodeMs(c, 512, manifest.slots?.singleLine ?? 24, cached).total;
  const loadNow = machineLoad();
  const costFor = (threads: number) => cachedCost(loadCache, threads, loadNow);
  let threads = options.threads ?? 0;
  const other = threads ? undefined : otherThreads(threadsFor(0));
  if (other !== undefined) {
    const [mine, theirs] = [costFor(threadsFor(0)), costFor(other)];
    if (mine && theirs) threads = typical(theirs) < typical(mine) ? other : threadsFor(0);
  }
  let { choice, graph } = await open(threads, !probed);
  let cost: CostMeasurement;
  try {
    cost = await costOf(graph, choice.threads, manifest, loadCache, dir, loadNow);
    if (other !== undefined && !threads && choice.executionProvider === 'cpu') {
      const alt = await open(other, false);
      const altCost = await costOf(alt.graph, other, manifest, loadCache, dir, loadNow).catch(async (e) => {
        await alt.graph.release().catch(() => undefined);
        throw e;
      });
      const [keep, drop] = typical(altCost) < typical(cost) ? [{ ...alt, cost: altCost }, graph] : [{ choice, graph, cost }, alt.graph];
      await drop.release().catch(() => undefined);
      ({ choice, graph, cost } = keep);
    }
  } catch (e) {
    await graph.release().catch(() => undefined);
    throw e;
  }
  const { session } = choice;
  let filter: OnnxSlotFilter | undefined;
  try {
    filter = manifest.files.filter ? await loadFilter(path.join(dir, manifest.files.filter), manifest, manifestFile) : undefined;
  } catch (e) {
    await session.release().catch(() => undefined);
    throw e;
  }
  // one session either way: the cached step is the same graph as the full forward
  const denoiser = cached
    ? new CachedDenoiser(
        graph,
        manifest.tokens.mask,
        options.stepsPerRefresh ?? manifest.cache?.stepsPerRefresh ?? Infinity,
        options.windowMargin ?? manifest.cache?.windowMargin ?? 0,
        manifest.ropeTheta ? rotaryFrequencies(manifest.ropeTheta, graph.kv.headDim) : undefined,
      )
    : new OnnxDenoiser(graph);
  // every token id's answer must be finite (src/model/probe.ts: partly NaN weights passed the probes above); once per folder
  let warnings = loadCache?.probes?.warnings ?? [];
  if (!probed) {
    await checkFiniteOutputs(denoiser, manifest, modelFile).catch(async (e) => {
      await Promise.all([denoiser.dispose(), filter?.dispose()]).catch(() => undefined);
      throw e;
    });
    try {
      warnings = await modelWarnings({ manifest, denoiser, tokenizer }, manifestFile);
    } catch (e) {
      warnings = [`the load-time probes of ${dir} failed: ${firstLine(e)}`];
    }
    if (loadCache) {
      loadCache.probes = { warnings };
      writeLoadCache(dir, loadCache); // the costs were written as they were measured (costOf)
    }
  }
  const model: ModelSpec = modelSpecOf(manifest);
  const info: ModelInfo = {
    name: manifest.name,
    modelDir: dir,
    vocabSize: manifest.vocabSize,
    maxSequence: manifest.maxSequence,
    executionProvider: choice.executionProvider,
    threads: choice.threads,
    ...(choice.fallbackReason ? { fallbackReason: choice.fallbackReason } : {}),
    loadMs: Math.round(performance.now() - t0),
    probes: probed ? 'cached' : 'run',
  };
  return {
    info,
    manifest,
    model,
    tokenizer,
    denoiser,
    ...(filter ? { filter } : {}),
    warnings,
    cost,
    draftWidth: chooseDraftWidth(cost.batched ?? []),
    dispose: async () => {
      await denoiser.dispose();
      await filter?.dispose();
    },
  };
}

/** The filter graph named by files.filter, checked: trained on the engine's signals, and answers a score per row in 0…1. */
async function loadFilter(file: string, m: Manifest, manifestFile: string): Promise<OnnxSlotFilter> {
  checkRegularFile(file, { limit: FILE_LIMITS.model, namedBy: `${MANIFEST_FILE} files.filter`, field: 'files.filter' });
  const names = m.filterFeatures;
  if (names && names.join(',') !== FEATURE_NAMES.join(',')) {
    throw new ModelFolderError(
      manifestFile,
      `field "filterFeatures" is [${names.join(', ')}], but this version of Unmask computes [${FEATURE_NAMES.join(', ')}]; retrain the filter (training/filter.py)`,
      'filterFeatures',
    );
  }
  let filter: OnnxSlotFilter;
  try {
    filter = await OnnxSlotFilter.create(file);
  } catch (e) {
    throw new ModelFolderError(file, `is not a loadable ONNX graph (truncated or corrupt?): ${firstLine(e)}`, 'files.filter');
  }
  try {
    const s = await filter.score(new Float32Array(2 * FEATURE_COUNT).fill(0.5), 2);
    if ([...s].some((x) => !(x >= 0 && x <= 1))) throw new Error('its scores are not in 0…1');
  } catch (e) {
    await filter.dispose().catch(() => undefined);
    throw new ModelFolderError(file, `is not a filter graph (features [N, ${FEATURE_COUNT}] float32 → score [N]): ${firstLine(e)}`, 'files.filter');
  }
  return filter;
}

function checkTokenizerAgrees(m: Manifest, tok: CodeTokenizer, manifestFile: string, tokenizerFile: string): void {
  if (tok.vocabSize !== m.vocabSize) {
    // both ways: a smaller tokenizer leaves ids the model predicts without text (docs/model-contract.md: they must agree)
    throw new ModelFolderError(
      manifestFile,
      `field "vocabSize" is ${m.vocabSize}, but ${path.basename(tokenizerFile)} has ${tok.vocabSize} tokens`,
      'vocabSize',
    );
  }
  // and the same ids: a tokenizer of the right size whose ids mean other text (shuffled, another model's) is refused
  if (m.vocabDigest !== undefined) {
    const digest = tok.vocabDigest();
    if (digest !== m.vocabDigest) {
      throw new ModelFolderError(
        tokenizerFile,
        `its vocabulary is not the model's: its digest is ${digest.slice(0, 19)}…, ` +
          `but ${path.basename(manifestFile)} field "vocabDigest" is ${m.vocabDigest.slice(0, 19)}… (its ids mean other text; ` +
          'use the tokenizer.json the model was exported with)',
        'vocabDigest',
      );
    }
  }
  const added = new Map(tok.addedTokens.map((t) => [t.id, t]));
  const roles = ['mask', 'pad', 'eos', 'bos'] as const;
  for (const role of roles) {
    const id = m.tokens[role];
    if (id === null) continue;
    const t = added.get(id);
    if (!t || !t.special) {
      throw new ModelFolderError(
        manifestFile,
        `field "tokens.${role}" is ${id}, but ${path.basename(tokenizerFile)} has no special token with that id` +
          ` (it is ${JSON.stringify(tok.idToToken(id) ?? null)})`,
        `tokens.${role}`,
      );
    }
    // a special token whose name says it plays another role is a mix-up, e.g. mask: 0 when 0 is <|pad|>
    const other = roles.find((r) => r !== role && new RegExp(`\\b${r}\\b|\\|${r}\\|`, 'i').test(t.content));
    if (other && !new RegExp(role, 'i').test(t.content)) {
      throw new ModelFolderError(
        manifestFile,
        `field "tokens.${role}" is ${id}, but that is ${JSON.stringify(t.content)} in ${path.basename(tokenizerFile)}`,
        `tokens.${role}`,
      );
    }
  }
}

/** The graph's names, sizes and answers against the manifest, by probes on tiny canvases; the checked graph. */
async function checkGraph(session: ort.InferenceSession, m: Manifest, modelFile: string, manifestFile: string, slowProbes = true): Promise<ModelGraph> {
  const missingIn = GRAPH_INPUTS.filter((n) => !session.inputNames.includes(n));
  if (missingIn.length) {
    throw new ModelFolderError(modelFile, `graph inputs are [${session.inputNames.join(', ')}]; missing ${missingIn.join(', ')} (docs/model-contract.md)`);
  }
  const missingOut = GRAPH_OUTPUTS.filter((n) => !session.outputNames.includes(n));
  if (missingOut.length) {
    throw new ModelFolderError(modelFile, `graph outputs are [${session.outputNames.join(', ')}]; missing ${missingOut.join(', ')} (docs/model-contract.md)`);
  }
  const topIds = session.outputMetadata?.find((o) => o.name === GRAPH.outputs.topIds);
  const k = topIds && topIds.isTensor ? topIds.shape[2] : undefined;
  if (typeof k === 'number' && k !== m.topK) {
    throw new ModelFolderError(manifestFile, `field "topK" is ${m.topK}, but the graph's ${GRAPH.outputs.topIds} has ${k} per position`, 'topK');
  }
  let graph: ModelGraph;
  try {
    graph = new ModelGraph(session, m.topK, kvShapeOf(session));
  } catch (e) {
    throw new ModelFolderError(modelFile, `${firstLine(e)} (docs/model-contract.md)`);
  }
  const quiet = { logSeverityLevel: 4 as const }; // a failing probe may be expected: keep onnxruntime from logging it
  const idsOf = (xs: number[]) => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), [1, xs.length]);

  // probe: the largest id must embed, one past it must not (the graph's vocabulary is vocabSize)
  const canvasWith = (id: number) => [m.tokens.pad, id, m.tokens.mask, m.tokens.mask];
  const probe = (id: number) => graph.run({ ids: idsOf(canvasWith(id)), start: 0, positions: [2, 3], withKv: true, runOptions: quiet });
  let out;
  try {
    out = await probe(m.vocabSize - 1);
  } catch (e) {
    if (e instanceof GraphContractError) throw new ModelFolderError(modelFile, `${e.message} (docs/model-contract.md)`);
    throw new ModelFolderError(
      manifestFile,
      `field "vocabSize" is ${m.vocabSize}, but the graph fails on token id ${m.vocabSize - 1}: ${firstLine(e)}`,
      'vocabSize',
    );
  }
  const predicted = out.predictions.flatMap((p) => Array.from(p.ids));
  if (predicted.some((id) => id < 0 || id >= m.vocabSize)) {
    throw new ModelFolderError(manifestFile, `field "vocabSize" is ${m.vocabSize}, but the graph predicts token ids beyond it`, 'vocabSize');
  }
  const probs = out.predictions.flatMap((p) => Array.from(p.probs));
  const entropy = out.predictions.map((p) => p.entropy);
  if ([...probs, ...entropy].some((x) => !Number.isFinite(x) || x < 0) || probs.some((p) => p > 1 + 1e-3)) {
    throw new ModelFolderError(modelFile, 'the graph answers probabilities or entropies that are not finite numbers in range (NaN weights?)');
  }
  // probe: the cached step (rows 1…2 against the keys and values of rows 0 and 3) runs and answers the contract
  try {
    const past = graph.pastWithout(out.kv!, 1, 3);
    const step = await graph.run({ ids: idsOf(canvasWith(m.vocabSize - 1).slice(1, 3)), start: 1, past, positions: [2], runOptions: quiet });
    if (!(step.predictions[0].probs[0] >= 0 && step.predictions[0].probs[0] <= 1 + 1e-3)) throw new Error('its answer is not a probability');
  } catch (e) {
    throw new ModelFolderError(modelFile, `does not run a cached step (${GRAPH.inputs.pastKv} of other rows, docs/model-contract.md): ${firstLine(e)}`);
  }
  // the longest canvas the manifest promises must run (a bounded maxSequence, so this probe is bounded too); once per folder
  if (slowProbes)
    try {
      const n = m.maxSequence;
      const canvas = new Array<number>(n).fill(m.tokens.pad);
      canvas[n - 1] = m.tokens.mask;
      const long = await graph.run({ ids: idsOf(canvas), start: 0, positions: [n - 1], runOptions: quiet });
      if (Array.from(long.predictions[0].probs).some((x) => !Number.isFinite(x))) throw new Error('its answer is not finite');
    } catch (e) {
      throw new ModelFolderError(
        manifestFile,
        `field "maxSequence" is ${m.maxSequence}, but the graph fails on a canvas that long: ${firstLine(e)}`,
        'maxSequence',
      );
    }
  let embedsBeyond = true;
  try {
    await probe(m.vocabSize);
  } catch {
    embedsBeyond = false;
  }
  if (embedsBeyond) {
    throw new ModelFolderError(
      manifestFile,
      `field "vocabSize" is ${m.vocabSize}, but the graph embeds token ids beyond it (its vocabulary is larger)`,
      'vocabSize',
    );
  }
  return graph;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split('\n')[0]
    .slice(0, 300);
}

/** The load cache's cost for this CPU and thread count, unless it was measured busy and the machine is quiet now. */
function cachedCost(cache: LoadCache | undefined, threads: number, loadNow: number): CostMeasurement | undefined {
  const known = cache?.costs[costKey(cpuKey(), threads)];
  return known && !measuredBusy(known, loadNow) ? known : undefined;
}

/**
 * The cost of `graph` at `threads`: from the load cache, or measured now and written to it at once, so that a first
 * load cut short (a deadline, a crash) keeps what it measured for the next try.
 */
async function costOf(graph: ModelGraph, threads: number, m: Manifest, cache: LoadCache | undefined, dir: string, loadNow: number): Promise<CostMeasurement> {
  const known = cachedCost(cache, threads, loadNow);
  if (known) return known;
  const measured = await measureCost(graph, threads, m.tokens.pad, m.maxSequence);
  if (cache) {
    cache.costs[costKey(cpuKey(), threads)] = measured;
    writeLoadCache(dir, cache);
  }
  return measured;
}

/** With threads on auto: the other thread count worth measuring (all cores up to 4, when that differs). */
function otherThreads(threads: number): number | undefined {
  const all = Math.min(4, availableParallelism());
  return all !== threads ? all : undefined;
}
