// The one definition of what the extension (and the CLI) and the model server say to each other,
// and of the trace (docs/architecture.md, "The trace") that the visualizer, the CLI and the benchmark share.
// The webview imports only its types; the request types and error classes below are for the client and the server.

import { NotificationType, RequestType, RequestType0, ResponseError } from 'vscode-jsonrpc/node';
import type { PolicySpec } from './engine/policyTable';
import { CancelledError } from './engine/types';
export type { PolicySpec };

export interface CompleteRequest {
  prefix: string;
  suffix: string;
  /** Mask slots between prefix and suffix: the longest completion, in tokens; absent: the model's budget for the shape. */
  slots?: number;
  /** Cut the completion at its first newline. */
  singleLine: boolean;
  policy: PolicySpec;
  /** End-of-text prediction: fill confident trailing pads in one step. */
  eotp: boolean;
  /** Semi-autoregressive blocks of this many slots; absent: one block. */
  blockSize?: number;
  /**
   * Lossless draft-and-verify (engine/draft.ts): each forward also verifies up to this many − 1 drafted steps in one
   * batched forward; the text and the unmasking order are the policy's. 'auto': the width the model's measured cost
   * pays for (1 where a batch costs as much as its forwards). Absent or 1: off.
   */
  draft?: number | 'auto';
  /** Hard cap on forward passes; the slots still masked then take their current top-1. */
  maxForwards?: number;
  /**
   * Finish decoding inside this many milliseconds: the last forward that fits fills every slot still masked, as
   * maxForwards does (stop reason timeBudget). 'auto':
   * the budget the model's measured cost gives (engine/plan.ts autoBudgetMs).
   */
  timeBudgetMs?: number | 'auto';
  /** Plan the canvas to the budget from the model's cost (engine/plan.ts); false: the whole context, as before. Default true. */
  plan?: boolean;
  /**
   * Reuse across keystrokes: the first forward may take the rows this canvas shares with the model's last one from
   * its cache (model/cachedDenoiser.ts REUSE). Default false: the editor asks for it (unmask.reuse), a benchmark does not.
   */
  reuse?: boolean;
}

export type ExecutionProviderSetting = 'auto' | 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

export interface LoadRequest {
  modelDir: string;
  executionProvider: ExecutionProviderSetting;
  /** Intra-op threads; 0 means half the cores, 1 to 4 (engine/bounds.ts resolveThreads). */
  threads: number;
  /** Run every forward on this team server (unmask.serverUrl, serve/README.md) instead of the folder's graph. */
  server?: { url: string; token?: string };
}

export interface ModelInfo {
  name: string;
  modelDir: string;
  vocabSize: number;
  maxSequence: number;
  /** The provider that actually runs the graph, e.g. 'cpu'. */
  executionProvider: string;
  threads: number;
  /** Why the requested provider was not used, when the server fell back to CPU. */
  fallbackReason?: string;
  /** Milliseconds the load took (session creation and warm-up). */
  loadMs?: number;
  /** Whether the slow load-time probes ran now or their verdict came from the folder's load cache (src/model/loadCache.ts). */
  probes?: 'run' | 'cached';
}

/** One newly unmasked slot in a step. */
export interface UnmaskedSlot {
  slot: number;
  token: number;
  text: string;
  p: number;
  entropy: number;
  /** The top-K of the forward that decided this slot: [token id, probability]. */
  alternatives: [number, number][];
  /** The decoded text of each alternative, same order. */
  alternativeTexts: string[];
  /** Policy `learned`: the learned filter's score for this slot at the step that unmasked it, P(top-1 is final). */
  score?: number;
}

/** A still-masked slot after a step: [slot, current top-1 token, its probability]. */
export type PendingSlot = [number, number, number];

export interface TraceStep {
  /** When this step began, in milliseconds since the decode began (a time budget is checked against it). */
  at: number;
  /** Wall time of this step (forward pass and decision). */
  ms: number;
  /** Of which the forward pass. */
  msModel: number;
  unmasked: UnmaskedSlot[];
  pending: PendingSlot[];
  /** Draft-and-verify: this step's forward was batched over this many canvases (this one and the drafted ones after it). */
  batch?: number;
  /** Draft-and-verify: this step's predictions are a verified row of an earlier batched forward; it cost no forward. */
  drafted?: boolean;
}

export interface TraceStats {
  forwards: number;
  /** Real tokens in the decoded slots (pads and eos not counted). */
  tokens: number;
  tokensPerForward: number;
  msTotal: number;
  msModel: number;
  /** Rows of the canvas the first forward took from the last request's cache (reuse across keystrokes); absent: none. */
  reusedRows?: number;
}

export type StopReason = 'complete' | 'eotp' | 'stable' | 'maxForwards' | 'lineEnd' | 'lineCap' | 'timeBudget';

/** A request's plan against what it cost: context tokens kept, slots, the expected and the actual milliseconds. */
export interface TracePlan {
  budgetMs: number;
  contextTokens: number;
  /** Tokens of context there were to keep (what the model's length allowed). */
  contextAvailable: number;
  slots: number;
  firstForwardMs: number;
  expectedMs: number;
  shrunk: boolean;
}

export interface Trace {
  model: string;
  /** The policy with its parameters resolved, plus the options in force (eotp, blockSize, …). */
  policy: PolicySpec & Record<string, unknown>;
  slots: number;
  prefixTokens: number;
  suffixTokens: number;
  steps: TraceStep[];
  /** What was planned before the first forward (engine/plan.ts), when the model's cost is known and a budget applies. */
  plan?: TracePlan;
  /**
   * The suggestion (shaped: cut to a line or to the line cap, suffix echo dropped, the context's line endings) and
   * its confidence: the geometric mean of the probabilities of the tokens it is made of (engine/gate.ts).
   */
  result: { text: string; stoppedBy: StopReason | string; confidence: number };
  stats: TraceStats;
  /** The prefix and suffix text that made it into the canvas (after truncation). */
  prefixText: string;
  suffixText: string;
  /** The final token of every slot, pads included, in slot order. */
  slotTokens: number[];
  /** The token ids that end a completion (the model's pad and eos): a slot holding one is a pad, whatever its text. */
  endTokens: number[];
  /** The real slots whose text `result.text` holds, in order (result shaping may cut the rest). */
  keptSlots: number[];
  /** The decoded slots before result shaping (pads removed, not cut). */
  rawText: string;
  singleLine: boolean;
}

// ---- JSON-RPC over the forked process's IPC channel (vscode-jsonrpc) ----

/** What the server has done since it started: the fault suite counts forwards with it, the client pings with it. */
export interface ServerStats {
  pid: number;
  /** complete requests received. */
  requests: number;
  /** Decodes that ran at least one forward. */
  decodesStarted: number;
  /** Forward passes run. */
  forwards: number;
  /** Requests cancelled or superseded before their first forward. */
  cancelledBeforeStart: number;
  /** Resident memory of the server process, bytes. */
  rss: number;
}

export interface CompleteParams {
  /** Client-chosen id that step notifications refer to. */
  id: number;
  request: CompleteRequest;
  /** Send step notifications (costs a message per step). */
  streamSteps: boolean;
}

export interface StepParams {
  id: number;
  index: number;
  step: TraceStep;
}

/**
 * The requests and the notification, each bound to its parameter and result types once; the client and the server
 * both use these. Cancelling a request is vscode-jsonrpc's own $/cancelRequest (a CancellationToken).
 */
export const Requests = {
  load: new RequestType<LoadRequest, ModelInfo, void>('unmask/load'),
  /** Superseded or cancelled requests fail with ErrorCodes.cancelled. */
  complete: new RequestType<CompleteParams, Trace, void>('unmask/complete'),
  /** Answered between two forwards, so it doubles as the client's liveness check. */
  stats: new RequestType0<ServerStats, void>('unmask/stats'),
};

export const Notifications = {
  /** Server to client, one per denoising step of a complete request that asked for them. */
  step: new NotificationType<StepParams>('unmask/step'),
};

/** Every failure the client reports: the server sends the first five in its JSON-RPC errors, the client adds the rest. */
export const ErrorCodes = {
  cancelled: -32800, // = LSP RequestCancelled
  noModel: -32001,
  modelLoad: -32002,
  decode: -32003,
  /** A request whose numbers are out of bounds (src/engine/bounds.ts); the message names the field. */
  invalidRequest: -32004,
  /** Client side: the server process exited while a request was outstanding. */
  serverCrashed: -32010,
  /** Client side: the server missed a deadline or a liveness check and was killed. */
  serverHung: -32011,
  /** Client side: the server crashed more times in a row than there are restart delays. */
  gaveUp: -32012,
  /** Client side: the team server (unmask.serverUrl, serve/README.md) did not answer, died mid-request or missed its deadline. */
  remoteUnavailable: -32013,
  /** Client side: the team server refused the token (HTTP 401). */
  remoteUnauthorized: -32014,
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Error names kept from before the classes, for callers and logs that print them. */
const ERROR_NAMES: Record<ErrorCode, string> = {
  [ErrorCodes.cancelled]: 'Cancelled',
  [ErrorCodes.noModel]: 'NoModel',
  [ErrorCodes.modelLoad]: 'ModelLoadError',
  [ErrorCodes.decode]: 'DecodeError',
  [ErrorCodes.invalidRequest]: 'InvalidRequest',
  [ErrorCodes.serverCrashed]: 'ServerCrashed',
  [ErrorCodes.serverHung]: 'ServerHung',
  [ErrorCodes.gaveUp]: 'GaveUp',
  [ErrorCodes.remoteUnavailable]: 'RemoteUnavailable',
  [ErrorCodes.remoteUnauthorized]: 'RemoteUnauthorized',
};

/** A failure of the model server or of talking to it; test `code`, not the name. Cancellation is CancelledError. */
export class UnmaskError extends Error {
  constructor(
    readonly code: Exclude<ErrorCode, typeof ErrorCodes.cancelled>,
    message: string,
  ) {
    super(message);
    this.name = ERROR_NAMES[code];
  }
}

export function hasErrorCode(error: unknown, ...codes: ErrorCode[]): error is UnmaskError {
  return error instanceof UnmaskError && codes.includes(error.code);
}

/** Server side: what goes over the wire for an error thrown by a handler (anything else is a decode failure). */
export function toResponseError(error: unknown): ResponseError<void> {
  if (error instanceof ResponseError) return error;
  if (error instanceof CancelledError) return new ResponseError(ErrorCodes.cancelled, error.message);
  if (error instanceof UnmaskError) return new ResponseError(error.code, error.message);
  return new ResponseError(ErrorCodes.decode, `decoding failed: ${error instanceof Error ? error.message : String(error)}`);
}

/** Client side: the error class back from a JSON-RPC error (its code), or the error as it is. */
export function fromResponseError(error: unknown): Error {
  if (error instanceof ResponseError) {
    if (error.code === ErrorCodes.cancelled) return new CancelledError();
    const known = (Object.values(ErrorCodes) as number[]).includes(error.code);
    return new UnmaskError(known ? (error.code as UnmaskError['code']) : ErrorCodes.decode, error.message);
  }
  return error instanceof Error ? error : new Error(String(error));
}
