// What to ask the model for at a cursor, and how its answer becomes a suggestion. No `vscode` import.
import type { CompleteRequest } from './protocol';
import type { Settings } from './settings';

/** At most this many lines are offered for a multi-line completion; the rest is dropped. */
export const maxSuggestionLines = 8;

/** Characters per token, generously: used only to cut the text sent to the server to the context window. */
const charsPerToken = 4;

export interface CursorText {
  /** The document text before the cursor (up to a generous window of lines). */
  before: string;
  /** The document text after the cursor (likewise). */
  after: string;
}

/** The settings a request is built from, and the model's context window in tokens (ModelInfo.maxSequence). */
export type InfillOptions = Pick<Settings, 'singleLineSlots' | 'multiLineSlots' | 'policy' | 'endOfTextPrediction'> & { maxSequence: number };

/** Single-line when there is code to the right of the cursor; multi-line at a line's end or on an empty line. */
export function isSingleLine(after: string): boolean {
  const restOfLine = after.split('\n', 1)[0];
  return restOfLine.trim().length > 0;
}

/**
 * The request for the model server: the text nearest the cursor that fits the context window, with the slot budget.
 * Single- or multi-line follows the cursor (`isSingleLine`) unless the caller decides.
 */
export function buildRequest(text: CursorText, options: InfillOptions, singleLine = isSingleLine(text.after)): CompleteRequest {
  const slots = singleLine ? options.singleLineSlots : options.multiLineSlots;
  const budget = Math.max(0, options.maxSequence - slots) * charsPerToken;
  // Three quarters of the window before the cursor, the rest after; unused room on one side goes to the other.
  const suffixRoom = Math.max(Math.floor(budget / 4), budget - text.before.length);
  const suffix = text.after.slice(0, suffixRoom);
  const prefix = text.before.slice(Math.max(0, text.before.length - (budget - suffix.length)));
  return { prefix, suffix, slots, singleLine, policy: options.policy, eotp: options.endOfTextPrediction };
}

/**
 * The suggestion to show for the engine's completion (already cut to one line in single-line mode and
 * stripped of any echo of the suffix), or '' for none: at most `maxSuggestionLines` lines, without
 * trailing whitespace.
 */
export function shapeSuggestion(completion: string): string {
  const text = completion.replace(/\r\n/g, '\n').split('\n').slice(0, maxSuggestionLines).join('\n').replace(/\s+$/, '');
  return text.trim() === '' ? '' : text;
}
