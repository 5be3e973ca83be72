// A budget for the JSON files of a model folder (tokenizer.json, unmask.json, a checkpoint's config.json), checked
// by one pass over the text BEFORE JSON.parse or the tokenizer library sees it. JSON.parse builds the whole tree
// first: 62 MB of nested brackets (under the tokenizer's size limit) grew the server to 1.7 GB and blocked it until
// the liveness check killed it, with a message that named no file. A scan that counts nesting and containers costs
// a fraction of a second at the size limit and allocates nothing.
import { ModelFolderError } from '../contract/manifest';

export interface JsonBudget {
  /** Deepest nesting of arrays and objects. Real tokenizer.json files nest 4–10 levels (normalizer sequences). */
  depth: number;
  /** Arrays and objects in all. A tokenizer with 256k tokens and 500k merges has about 500k. */
  containers: number;
  /** Values (containers and scalars): array elements and object members, counted by their separators. */
  values: number;
  /**
   * Members of any one array or object (absent: no limit of its own). A tokenizer's vocabulary and merges are its
   * largest: JSON.parse of one object of 3 million keys took 7 s and 790 MB, and the tokenizer library never finished
   * on 10 million.
   */
  members?: number;
  /** Said after a `members` refusal: what the limit is for. */
  membersNote?: string;
}

export const JSON_BUDGET: JsonBudget = { depth: 64, containers: 4_000_000, values: 16_000_000 };

/**
 * tokenizer.json and a slow tokenizer's vocab.json: at most BOUNDS.vocabSize.max (1,048,576) entries in the
 * vocabulary or the merges (real ones: 32k to 262k tokens, a merge fewer per token), 4 million values in all.
 */
export const TOKENIZER_BUDGET: JsonBudget = {
  depth: 64,
  containers: 2_000_000,
  values: 4_000_000,
  members: 1_048_576,
  membersNote: "a tokenizer's vocabulary and merges may have at most 1048576 entries each",
};

/** What exceeded the budget, or undefined; one pass, strings skipped (brackets inside them are text). */
export function jsonBudgetProblem(text: string, budget: JsonBudget = JSON_BUDGET): string | undefined {
  let depth = 0;
  let containers = 0;
  let values = 0;
  const members = budget.members ?? Infinity;
  // commas seen in the open container at each depth (members − 1); only kept when `members` is finite
  const commas = Number.isFinite(members) ? new Float64Array(budget.depth + 2) : undefined;
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
      if (commas) commas[depth] = 0;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      if (++values > budget.values) return `holds more than ${budget.values} values`;
      if (commas && depth > 0 && ++commas[depth] >= members) {
        return (
          `holds an array or object of more than ${members} members (at byte ${byteOffset(text, i)})` + (budget.membersNote ? `; ${budget.membersNote}` : '')
        );
      }
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
