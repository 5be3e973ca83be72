// The families the converter reads, as a list for people: the command line's help and the editor's Get Model read it
// (from familyTable.json alone, so the editor's bundle takes no converter code with it).
import registry from './familyTable.json';

/** "Qwen2/Dream, Llama, LLaDA and the bundled model", `last` joining the last two. */
export function familyList(last: 'and' | 'or'): string {
  const labels = Object.entries(registry).flatMap(([k, f]) => (k === '//' || typeof f === 'string' ? [] : [f.label]));
  return `${labels.slice(0, -1).join(', ')} ${last} ${labels[labels.length - 1]}`;
}
