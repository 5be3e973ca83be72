// From decoded slots to the text the editor shows. An empty result is a valid answer.

export interface ShapeInput {
  /** The decoded slots, pads and eos already removed. */
  text: string;
  /** The full text before and after the cursor (not only what fit the canvas). */
  prefix: string;
  suffix: string;
  singleLine: boolean;
}

export function shapeCompletion({ text, prefix, suffix, singleLine }: ShapeInput): string {
  let out = text;
  if (singleLine) {
    const nl = out.search(/\r?\n/);
    if (nl >= 0) out = out.slice(0, nl);
    out = out.trimEnd(); // spaces before the line's end or before an echoed `)` mean nothing
  }
  const keepsBalance = balanceChecker(prefix + suffix);
  out = dropSuffixEcho(out, suffix, keepsBalance);
  out = keepBracketsBalanced(out, keepsBalance);
  return out;
}

const PAIRS: [string, string][] = [['(', ')'], ['[', ']'], ['{', '}']];

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
