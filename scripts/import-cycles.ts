// `tsx scripts/import-cycles.ts [ROOT]` (part of `npm run lint`): fails when the TypeScript files under ROOT (default
// src/) import each other in a circle, naming the circle. Two levels: single files, and the top-level folders of ROOT
// (convert/ importing model/ while model/ imports convert/, through any of their files; the files directly in ROOT, such
// as protocol.ts, belong to no folder and count at the file level only). Type-only imports count: they couple the two
// sides as much as a value does. Relative imports only; no dependency of its own.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every relative module a file names: import and export ... from, import(), require(). */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]*|\.{1,2})['"]/g;

export interface ImportCycles {
  /** Circles of top-level folders, each as the folders in order with the first repeated at the end. */
  folders: string[][];
  /** Circles of files (paths relative to the root), the same way. */
  files: string[][];
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The .ts file a relative specifier names (x.ts, x/index.ts), or undefined (a .json file, a missing one). */
function resolveImport(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  for (const p of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (p.endsWith('.ts') && fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  return undefined;
}

/** The import graph of every .ts file under `root`, keyed and valued by paths relative to it. */
export function importGraph(root: string): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of tsFiles(root)) {
    const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|(^|[^:'"`])\/\/.*$/gm, '$1');
    const targets = new Set<string>();
    for (const m of text.matchAll(SPECIFIER)) {
      const target = resolveImport(file, m[1]);
      if (target && target.startsWith(root + path.sep)) targets.add(path.relative(root, target));
    }
    graph.set(path.relative(root, file), targets);
  }
  return graph;
}

/** One circle through each strongly connected group of `graph` (Tarjan's algorithm), smallest first. */
function circles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || graph.get(v)?.has(v)) groups.push(group);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  // inside a group, the shortest way back to its first member (breadth-first) is the circle to name
  return groups
    .map((group) => {
      const members = new Set(group);
      const start = [...group].sort()[0];
      const prev = new Map<string, string>();
      const queue = [start];
      for (let i = 0; i < queue.length; i++) {
        for (const w of [...(graph.get(queue[i]) ?? [])].sort()) {
          if (!members.has(w)) continue;
          if (w === start) {
            const circle = [start];
            for (let at: string | undefined = queue[i]; at !== undefined && at !== start; at = prev.get(at)) circle.splice(1, 0, at);
            return [...circle, start];
          }
          if (!prev.has(w)) {
            prev.set(w, queue[i]);
            queue.push(w);
          }
        }
      }
      return [start, start];
    })
    .sort((a, b) => a.length - b.length || a.join().localeCompare(b.join()));
}

/** A file's top-level folder under the root; undefined for a file directly in the root. */
const folderOf = (file: string): string | undefined => (file.includes(path.sep) ? file.split(path.sep)[0] : undefined);

export function findImportCycles(root: string): ImportCycles {
  const files = importGraph(path.resolve(root));
  const folders = new Map<string, Set<string>>();
  for (const [file, targets] of files) {
    const from = folderOf(file);
    if (from === undefined) continue;
    if (!folders.has(from)) folders.set(from, new Set());
    for (const t of targets) {
      const to = folderOf(t);
      if (to !== undefined && to !== from) folders.get(from)!.add(to);
    }
  }
  return { folders: circles(folders), files: circles(files) };
}

/** Lines naming each circle, with an example import for each step of a folder circle; empty when there is none. */
export function describeImportCycles(root: string, cycles: ImportCycles): string[] {
  const graph = importGraph(path.resolve(root));
  const lines: string[] = [];
  for (const c of cycles.folders) {
    const steps = c.slice(0, -1).map((from, i) => {
      const to = c[i + 1];
      const example = [...graph].flatMap(([f, ts]) => (folderOf(f) === from ? [...ts].filter((t) => folderOf(t) === to).map((t) => `${f} -> ${t}`) : []))[0];
      return `  ${from}/ -> ${to}/ (${example})`;
    });
    lines.push(`folders import each other: ${c.map((f) => `${f}/`).join(' -> ')}`, ...steps);
  }
  for (const c of cycles.files) lines.push(`files import each other: ${c.join(' -> ')}`);
  return lines;
}

if (require.main === module) {
  const root = process.argv[2] ?? path.join(__dirname, '..', 'src');
  const cycles = findImportCycles(root);
  const lines = describeImportCycles(root, cycles);
  if (lines.length) {
    console.error(`import cycles under ${path.relative(process.cwd(), path.resolve(root)) || '.'}:\n${lines.join('\n')}`);
    process.exit(1);
  }
  console.log(`no import cycle under ${path.relative(process.cwd(), path.resolve(root)) || '.'}`);
}
