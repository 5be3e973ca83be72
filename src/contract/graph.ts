// The one graph every model folder holds (docs/model-contract.md, "Graph"): its file, its input and output names and
// its top-K, as contract.json states them for both sides (the converter writes them, the loader, the team server and the
// Python scripts read them). Neither src/convert/ nor src/model/ owns this: both import it.
import contract from './contract.json';

/**
 * One graph, `model.onnx` with its weights as external data in `model.onnx.data`, answers both the full forward and
 * the cached step:
 *   input  input_ids  int64 [batch, q]        tokens of the canvas rows [start, start + q) that are computed now
 *   input  start      int64 [1]               canvas position of the first computed row (rotary positions)
 *   input  past_kv    float32 [layers, 2, batch, kvHeads, p, headDim]  keys (after rotary) and values of the
 *                                             other canvas rows, in any order; p may be 0 (the full forward)
 *   input  positions  int64 [batch, n]        canvas positions (inside [start, start + q)) whose predictions are wanted
 *   output top_ids    int64 [batch, n, K]     output top_probs float32 [batch, n, K]   output entropy float32 [batch, n]
 *   output kv         float32 [layers, 2, batch, kvHeads, q, headDim]  keys and values of the computed rows
 * Every computed row attends to all p past rows and all q computed rows (no mask: bidirectional).
 * Full forward: start 0, q = the whole canvas, p = 0; its `kv` is the cache. Step: q = the window, past_kv = the
 * cache without the window's rows.
 */
export const GRAPH = {
  /** The graph's file name in a folder the converter writes (a manifest may name another). */
  file: contract.graph.file,
  inputs: contract.graph.inputs,
  outputs: contract.graph.outputs,
  topK: contract.graph.topK,
  weightsFile: (graphFile: string) => `${graphFile}${contract.graph.weightsSuffix}`,
} as const;
