// Cursor text → request: the first stage of the one pipeline (docs/architecture.md, "A request's path"), used by
// the editor, Fill Selection and the CLI. The request carries the text around the cursor; the engine cuts it to
// the model's window by tokens (canvas.ts) and shapes the answer (shaping.ts).
import type { CompleteRequest, PolicySpec } from '../protocol';

export interface CursorText {
  /** The document text before the cursor (a bounded window of it: contextChars). */
  before: string;
  /** The document text after the cursor (likewise). */
  after: string;
}

export interface RequestOptions {
  policy: PolicySpec;
  endOfTextPrediction: boolean;
  /** Slot budgets; 0 or absent: the model's own (unmask.json `slots`, else the engine's defaults). */
  singleLineSlots?: number;
  multiLineSlots?: number;
  /** Milliseconds a decode may take, or 'auto' (the model's cost decides); absent or 0: no limit. */
  timeBudgetMs?: number | 'auto';
  /** Draft-and-verify: canvases per batched forward (unmask.draft); absent or 1: off. */
  draft?: number;
  /** Reuse across keystrokes (unmask.reuse): the first forward takes unchanged rows from the last request's cache. */
  reuse?: boolean;
}

/** Single-line when there is code to the right of the cursor; multi-line at a line's end or on an empty line. */
export function isSingleLine(after: string): boolean {
  const restOfLine = after.split('\n', 1)[0];
  return restOfLine.trim().length > 0;
}

/** The request at a cursor; single- or multi-line follows the cursor (`isSingleLine`) unless the caller decides. */
export function buildRequest(text: CursorText, options: RequestOptions, singleLine = isSingleLine(text.after)): CompleteRequest {
  const slots = singleLine ? options.singleLineSlots : options.multiLineSlots;
  return {
    prefix: text.before,
    suffix: text.after,
    singleLine,
    policy: options.policy,
    eotp: options.endOfTextPrediction,
    ...(slots ? { slots } : {}),
    ...(options.timeBudgetMs ? { timeBudgetMs: options.timeBudgetMs } : {}),
    ...(options.draft && options.draft > 1 ? { draft: options.draft } : {}),
    ...(options.reuse ? { reuse: true } : {}),
  };
}
