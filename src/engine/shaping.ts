// From decoded slots to the text the editor shows: the one shaping pass, used by the editor, the CLI, the bench
// and Compare alike. An empty result is a valid answer.
import defaults from './defaults.json';

/** A multi-line completion keeps at most this many lines; decoding stops once they are settled (stop reason lineCap). */
export const MAX_SUGGESTION_LINES: number = defaults.maxSuggestionLines;

export interface ShapeInput {
  /** The decoded slots, pads and eos already removed. */
  text: string;
  /** The full text before and after the cursor (not only what fit the canvas). */
  prefix: string;
  suffix: string;
  singleLine: boolean;
}

export function shapeCompletion({ text, prefix, suffix, singleLine }: ShapeInput): string {
  let out = text.replace(/\r\n?/g, '\n');
  const lines = out.split('\n');
  out = lines.slice(0, singleLine ? 1 : MAX_SUGGESTION_LINES).join('\n');
  out = out.trimEnd(); // spaces before the line's end or before an echoed `)` mean nothing
  const keepsBalance = balanceChecker(prefix + suffix);
  out = dropSuffixEcho(out, suffix.replace(/\r\n?/g, '\n'), keepsBalance);
  out = keepBracketsBalanced(out, keepsBalance);
  if (out.trim() === '') return '';
  return usesCrlf(prefix, suffix) ? out.replace(/\n/g, '\r\n') : out;
}

/** Whether the text around the cursor ends its lines with CRLF (judged by the line break nearest the cursor). */
export function usesCrlf(prefix: string, suffix: string): boolean {
  const before = prefix.lastIndexOf('\n');
  if (before >= 0) return prefix[before - 1] === '\r';
  const after = suffix.indexOf('\n');
  return after > 0 && suffix[after - 1] === '\r';
}

const PAIRS: [string, string][] = [
  ['(', ')'],
  ['[', ']'],
  ['{', '}'],
];

function bracketDelta(text: string): number[] {
  const d = PAIRS.map(() => 0);
  for (const ch of text) {
    for (let i = 0; i < PAIRS.length; i++) {
      if (ch === PAIRS[i][0]) d[i]++;
      else if (ch === PAIRS[i][1]) d[i]--;
    }
  }
  return d;
}

/** Whether inserting a text into `context` leaves every bracket kind that was balanced there balanced. */
export function balanceChecker(context: string): (text: string) => boolean {
  const before = bracketDelta(context);
  return (text) => bracketDelta(text).every((d, i) => before[i] !== 0 || d === 0);
}

/**
 * Removes the longest tail of `text` that repeats the start of `suffix` (the model rewrote what
 * follows), unless the cut would unbalance brackets that the uncut text kept balanced:
 * `foo(a)` before `)` is a call, not an echo.
 */
export function dropSuffixEcho(text: string, suffix: string, keepsBalance: (t: string) => boolean = () => true): string {
  const wasOk = keepsBalance(text);
  for (let k = Math.min(text.length, suffix.length); k > 0; k--) {
    if (!text.endsWith(suffix.slice(0, k))) continue;
    const cut = text.slice(0, text.length - k);
    if (!wasOk || keepsBalance(cut)) return cut;
  }
  return text;
}

/** A completion that would unbalance balanced brackets is cut back to its longest start that does not (maybe empty). */
export function keepBracketsBalanced(text: string, keepsBalance: (t: string) => boolean): string {
  if (keepsBalance(text)) return text;
  for (let end = text.length - 1; end > 0; end--) {
    const cut = text.slice(0, end);
    if (keepsBalance(cut)) return cut.trim() === '' ? '' : cut;
  }
  return '';
}
