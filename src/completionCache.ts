// Recent completions keyed by the text around the cursor, so typing through a suggestion reuses it
// instead of asking the model again. No `vscode` import.
import { LRUCache } from 'lru-cache';

interface Entry {
  prefix: string;
  suffix: string;
  suggestion: string;
}

/** How much of the text on each side of the cursor identifies a completion. */
const keyChars = 2000;

export class CompletionCache {
  private readonly entries: LRUCache<string, Entry>;
  /** The most recent entry: the one the user is most likely typing through. */
  private last: Entry | undefined;

  constructor(max = 64) {
    this.entries = new LRUCache({ max });
  }

  set(prefix: string, suffix: string, suggestion: string): void {
    const entry = { prefix: prefix.slice(-keyChars), suffix: suffix.slice(0, keyChars), suggestion };
    this.entries.set(key(entry.prefix, entry.suffix), entry);
    this.last = entry;
  }

  /**
   * The suggestion for this cursor: an exact hit, or the rest of the last suggestion when the text typed since
   * it was made is its beginning (and the text after the cursor is unchanged).
   */
  get(prefix: string, suffix: string): string | undefined {
    const p = prefix.slice(-keyChars);
    const s = suffix.slice(0, keyChars);
    const exact = this.entries.get(key(p, s));
    if (exact) return exact.suggestion;
    const last = this.last;
    if (!last || last.suffix !== s) return undefined;
    // Both prefixes are cut to their last keyChars, so `p` must be the tail of (last prefix + typed text).
    for (let typedLength = 1; typedLength < last.suggestion.length; typedLength++) {
      const typedThrough = last.prefix + last.suggestion.slice(0, typedLength);
      if (p.length === Math.min(keyChars, typedThrough.length) && typedThrough.endsWith(p)) {
        return last.suggestion.slice(typedLength);
      }
    }
    return undefined;
  }

  clear(): void {
    this.entries.clear();
    this.last = undefined;
  }
}

function key(prefix: string, suffix: string): string {
  return `${prefix.length}:${prefix}\u0000${suffix}`;
}
