// scripts/import-cycles.ts (run by `npm run lint`): a circle of imports is named, at the level of top-level folders and
// of files; imports in one direction only pass.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeImportCycles, findImportCycles } from '../../../scripts/import-cycles';

/** A throw-away source tree: file path -> text. */
function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'unmask-cycles-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), text);
  }
  return root;
}

describe('the import-cycle check', () => {
  const roots: string[] = [];
  const make = (files: Record<string, string>) => {
    const root = tree(files);
    roots.push(root);
    return root;
  };
  after(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  it('names two folders that import each other through different files', () => {
    const root = make({
      'convert/index.ts': "import { load } from '../model/load';\nexport const convert = () => load();\n",
      'convert/spec.ts': 'export const GRAPH = 1;\n',
      'model/load.ts': "import type { X } from '../other';\nimport { GRAPH } from '../convert/spec';\nexport const load = () => GRAPH;\n",
      'other.ts': 'export type X = number;\n',
    });
    const cycles = findImportCycles(root);
    assert.deepEqual(cycles.folders, [['convert', 'model', 'convert']]);
    assert.deepEqual(cycles.files, []);
    const lines = describeImportCycles(root, cycles);
    assert.equal(lines[0], 'folders import each other: convert/ -> model/ -> convert/');
    assert.ok(lines.some((l) => l.includes(`model${path.sep}load.ts -> convert${path.sep}spec.ts`)));
  });

  it('names a circle of files, type-only imports, index files and re-exports included', () => {
    const root = make({
      'a/one.ts': "import type { Two } from './two';\nexport type One = Two[];\n",
      'a/two.ts': "export * from '.';\nexport type Two = number;\n",
      'a/index.ts': "export { type One } from './one';\n",
    });
    const cycles = findImportCycles(root);
    assert.deepEqual(cycles.folders, []);
    assert.equal(cycles.files.length, 1);
    assert.deepEqual(new Set(cycles.files[0]), new Set([path.join('a', 'index.ts'), path.join('a', 'one.ts'), path.join('a', 'two.ts')]));
    assert.equal(cycles.files[0][0], cycles.files[0].at(-1));
  });

  it('passes imports in one direction, and ignores comments, JSON and packages', () => {
    const root = make({
      'contract/graph.ts': "import contract from './contract.json';\nexport const GRAPH = contract;\n",
      'contract/contract.json': '{}',
      'convert/index.ts':
        "import { GRAPH } from '../contract/graph';\nimport { load } from '../model/load';\nimport * as fs from 'node:fs';\nexport const c = [GRAPH, load, fs];\n",
      'model/load.ts':
        "// not an import: from '../convert'\n/* nor this: import '../convert/index' */\nimport { GRAPH } from '../contract/graph';\nexport const load = GRAPH;\n",
    });
    const cycles = findImportCycles(root);
    assert.deepEqual(cycles, { folders: [], files: [] });
    assert.deepEqual(describeImportCycles(root, cycles), []);
  });

  it('finds none in src/', () => {
    const src = path.join(__dirname, '..', '..', '..', 'src');
    const cycles = findImportCycles(src);
    assert.deepEqual(describeImportCycles(src, cycles), []);
  });
});
