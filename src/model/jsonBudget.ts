// A budget for the JSON files of a model folder (tokenizer.json, unmask.json, a checkpoint's config.json), checked
// by one pass over the text BEFORE JSON.parse or the tokenizer library sees it. JSON.parse builds the whole tree
// first: 62 MB of nested brackets (under the tokenizer's size limit) grew the server to 1.7 GB and blocked it until
// the liveness check killed it, with a message that named no file. A scan that counts nesting and containers costs
// a fraction of a second at the size limit and allocates nothing.
import { ModelFolderError } from './manifest';

export interface JsonBudget {
  /** Deepest nesting of arrays and objects. Real tokenizer.json files nest 4–10 levels (normalizer sequences). */
  depth: number;
  /** Arrays and objects in all. A tokenizer with 256k tokens and 500k merges has about 500k. */
  containers: number;
  /** Values (containers and scalars): array elements and object members, counted by their separators. */
  values: number;
}

export const JSON_BUDGET: JsonBudget = { depth: 64, containers: 4_000_000, values: 16_000_000 };

/** What exceeded the budget, or undefined; one pass, strings skipped (brackets inside them are text). */
export function jsonBudgetProblem(text: string, budget: JsonBudget = JSON_BUDGET): string | undefined {
  let depth = 0;
  let containers = 0;
  let values = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // to the closing quote; a backslash escapes the next character
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > budget.depth) {
        return `nests arrays and objects deeper than ${budget.depth} levels (at byte ${byteOffset(text, i)}); a model folder's JSON files nest a few levels`;
      }
      if (++containers > budget.containers) return `holds more than ${budget.containers} arrays and objects`;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      if (++values > budget.values) return `holds more than ${budget.values} values`;
    }
  }
  return undefined;
}

/**
 * `text` when it is within the budget; otherwise a ModelFolderError naming `file` and what exceeded it. Call it
 * between reading a file and JSON.parse.
 */
export function withinJsonBudget(text: string, file: string, budget: JsonBudget = JSON_BUDGET): string {
  const problem = jsonBudgetProblem(text, budget);
  if (problem) throw new ModelFolderError(file, `${problem}: refused before parsing it`);
  return text;
}

/** The UTF-8 byte offset of character index `index` (for the message; only computed on failure). */
function byteOffset(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), 'utf8');
}
