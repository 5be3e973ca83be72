// The messages between the visualizer panel (extension host) and its webview, declared once
// and imported by both sides. Types only: nothing here may pull in `vscode` or Node.
import type { Trace } from '../protocol';

export type { Trace };

/** One completion in the panel's history. */
export interface HistoryEntry {
  id: string;
  /** Short description: where the completion was made, or its first line. */
  label: string;
  /** Milliseconds since the epoch. */
  time: number;
  trace: Trace;
}

/** The same infill decoded with several policies; the first trace is the reference. */
export interface Comparison {
  id: string;
  label: string;
  traces: Trace[];
}

/** Host → webview. The host posts nothing before the webview's `ready`. */
export type HostMessage =
  /** Everything the webview needs, sent in answer to each `ready` (the webview reloads when hidden). */
  | { type: 'init'; entries: HistoryEntry[]; comparison: Comparison | null; canCompare: boolean }
  /** A new completion; the webview shows it unless pinned. */
  | { type: 'addEntry'; entry: HistoryEntry; dropIds: string[] }
  /** Show a comparison (from the compare command). */
  | { type: 'showComparison'; comparison: Comparison }
  /** The one reply to a `requestCompare`. */
  | { type: 'compareResult'; requestId: number; comparison: Comparison | null; error: string | null };

/** Webview → host. */
export type WebviewMessage =
  | { type: 'ready' }
  /** Decode the entry's infill with the other policies; answered by exactly one `compareResult`. */
  | { type: 'requestCompare'; requestId: number; entryId: string };

/** Colourings the token view can switch between. */
export type Colouring = 'order' | 'confidence';

/** What the webview keeps with getState/setState so hiding the panel loses nothing. */
export interface WebviewState {
  selectedId: string | null;
  pinned: boolean;
  colouring: Colouring;
  /** Replay position: steps applied, or null for the final canvas. */
  step: number | null;
  focusedSlot: number | null;
}

/** What the standalone page (one HTML file, no VS Code) embeds in place of a host. */
export interface StandalonePayload {
  entries: HistoryEntry[];
  comparison: Comparison | null;
  /** The entry shown first. */
  selectedId: string | null;
}

/** The id of the element that carries the standalone page's JSON payload. */
export const STANDALONE_DATA_ID = 'unmask-data';
