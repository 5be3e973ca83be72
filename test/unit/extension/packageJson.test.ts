// package.json's contributed settings and commands are written for VS Code by hand; they must say what the one
// policy table (src/engine/policyTable.ts), the settings' own table (src/settings.ts) and the code that registers
// commands say. The command code imports `vscode`, so it is read as TypeScript syntax, not run.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { DEFAULT_POLICY, POLICY_NAMES, POLICY_TABLE } from '../../../src/engine/policyTable';
import { defaultSettings, executionProviders, logLevels, numericSettings, type Settings } from '../../../src/settings';

interface Property {
  type?: unknown;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  description?: string;
}
const ROOT = path.resolve(__dirname, '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const properties: Record<string, Property> = Object.assign({}, ...pkg.contributes.configuration.map((c: { properties: object }) => c.properties));

describe('package.json agrees with the policy and settings tables', () => {
  it("unmask.policy lists the table's policies, in its order, with the default policy", () => {
    assert.deepEqual(properties['unmask.policy'].enum, POLICY_NAMES);
    assert.equal(properties['unmask.policy'].default, DEFAULT_POLICY.name);
  });

  it('unmask.policyParameter names every parameter of the table', () => {
    const description = properties['unmask.policyParameter'].description ?? '';
    for (const name of POLICY_NAMES) {
      const p = POLICY_TABLE[name].parameter;
      if (p) assert.ok(description.includes(`${p.symbol} for ${name}`), `description lacks "${p.symbol} for ${name}": ${description}`);
    }
  });

  it('every numeric setting has the range and default of the settings table', () => {
    for (const [key, { min, max, integer }] of Object.entries(numericSettings)) {
      const p = properties[`unmask.${key}`];
      assert.ok(p, `package.json lacks unmask.${key}`);
      assert.deepEqual(
        // a setting that also takes 'auto' (unmask.timeBudgetMs) is typed [number type, "string"] with that one string
        [p.type, p.minimum, p.maximum, p.default],
        [
          defaultSettings[key as keyof Settings] === 'auto' ? [integer ? 'integer' : 'number', 'string'] : integer ? 'integer' : 'number',
          min,
          max,
          defaultSettings[key as keyof Settings],
        ],
        `unmask.${key}`,
      );
    }
  });

  it('every setting of package.json is one the extension reads, with the same default', () => {
    for (const [key, p] of Object.entries(properties)) {
      const name = key.replace(/^unmask\./, '');
      if (name === 'policyParameter') continue; // folded into Settings.policy
      assert.ok(name in defaultSettings, `${key} is not read by src/settings.ts`);
      const expected = name === 'policy' ? DEFAULT_POLICY.name : defaultSettings[name as keyof Settings];
      assert.deepEqual(p.default, expected, `${key} default`);
    }
  });
});

describe('package.json agrees with the setting enums', () => {
  it('unmask.executionProvider and unmask.logLevel list the values src/settings.ts accepts, in its order', () => {
    assert.deepEqual(properties['unmask.executionProvider'].enum, executionProviders);
    assert.deepEqual(properties['unmask.logLevel'].enum, logLevels);
  });
});

/** Every .ts file under src/, parsed. */
function sourceFiles(dir = path.join(ROOT, 'src')): ts.SourceFile[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(file);
    return e.name.endsWith('.ts') ? [ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true)] : [];
  });
}

function visit(node: ts.Node, f: (n: ts.Node) => void): void {
  f(node);
  node.forEachChild((c) => visit(c, f));
}

/** The literal ids of every `….registerCommand('id', …)` call in src/ (the helper that forwards a variable id is skipped). */
function registeredCommands(): string[] {
  const ids: string[] = [];
  for (const file of sourceFiles()) {
    visit(file, (n) => {
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        n.expression.name.text === 'registerCommand' &&
        n.arguments.length > 0 &&
        ts.isStringLiteral(n.arguments[0])
      )
        ids.push(n.arguments[0].text);
    });
  }
  return ids;
}

/** The [command, label] pairs of the status-bar menu: the string pairs in src/editor/commands.ts's showMenu. */
function menuItems(): [string, string][] {
  const file = sourceFiles().find((f) => f.fileName === path.join(ROOT, 'src', 'editor', 'commands.ts'));
  assert.ok(file, 'src/editor/commands.ts not found');
  let menu: ts.FunctionDeclaration | undefined;
  visit(file, (n) => {
    if (ts.isFunctionDeclaration(n) && n.name?.text === 'showMenu') menu = n;
  });
  assert.ok(menu, 'src/editor/commands.ts has no function showMenu');
  const items: [string, string][] = [];
  visit(menu, (n) => {
    if (ts.isArrayLiteralExpression(n) && n.elements.length === 2 && n.elements.every(ts.isStringLiteral)) {
      items.push([(n.elements[0] as ts.StringLiteral).text, (n.elements[1] as ts.StringLiteral).text]);
    }
  });
  return items;
}

describe("package.json's commands agree with the code", () => {
  const contributed: { command: string; title: string; category?: string }[] = pkg.contributes.commands;
  const contributedIds = contributed.map((c) => c.command);

  it('each command is contributed once, under the Unmask category', () => {
    assert.equal(new Set(contributedIds).size, contributedIds.length, `duplicates in ${contributedIds.join(', ')}`);
    for (const c of contributed) {
      assert.match(c.command, /^unmask\.[A-Za-z]+$/, `command id ${c.command}`);
      assert.ok(c.title, `${c.command} has no title`);
      assert.equal(c.category, 'Unmask', `${c.command} category`);
    }
  });

  it('every contributed command is registered by the extension, and every registered one is contributed', () => {
    const registered = registeredCommands();
    assert.ok(registered.length >= 5, `found only ${registered.length} registerCommand calls: the parse is wrong`);
    assert.equal(new Set(registered).size, registered.length, `a command is registered twice: ${registered.join(', ')}`);
    assert.deepEqual([...registered].sort(), [...contributedIds].sort());
  });

  it('keybindings, menus and walkthrough links name contributed commands', () => {
    const named = [
      ...pkg.contributes.keybindings.map((k: { command: string }) => k.command),
      ...Object.values(pkg.contributes.menus as Record<string, { command: string }[]>)
        .flat()
        .map((m) => m.command),
      ...Array.from(JSON.stringify(pkg.contributes.walkthroughs).matchAll(/command:(unmask\.[A-Za-z]+)/g), (m) => m[1]),
    ];
    assert.ok(named.length > 0);
    for (const id of named) assert.ok(contributedIds.includes(id), `${id} is not in contributes.commands`);
  });

  it('the status-bar menu offers only contributed commands, each labelled with its contributed title', () => {
    const items = menuItems();
    assert.ok(items.length >= 5, `found only ${items.length} menu items in showMenu: the parse is wrong`);
    for (const [command, label] of items) {
      const c = contributed.find((x) => x.command === command);
      assert.ok(c, `the menu offers ${command}, which package.json does not contribute`);
      assert.equal(label, c.title, `the menu's label for ${command}`);
    }
  });
});
