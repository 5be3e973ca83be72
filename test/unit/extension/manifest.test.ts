// The extension manifest and the code agree: every contributed command is registered in activate(),
// and every keybinding and menu entry names a contributed command.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const activate = fs.readFileSync(path.join(ROOT, 'src', 'editor', 'extension.ts'), 'utf8');

describe('package.json contributions', () => {
  const contributed: string[] = manifest.contributes.commands.map((c: { command: string }) => c.command);

  it('every contributed command is registered by activate()', () => {
    const registered = [...activate.matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]);
    assert.deepEqual(
      contributed.filter((c) => !registered.includes(c)),
      [],
    );
  });

  it('keybindings and menus name contributed commands', () => {
    const menus = Object.values(manifest.contributes.menus ?? {}).flat() as { command: string }[];
    const used = [...manifest.contributes.keybindings, ...menus].map((k: { command: string }) => k.command);
    assert.deepEqual(
      used.filter((c) => !contributed.includes(c)),
      [],
    );
  });

  it('activates on startup-finished, never on "*"', () => {
    assert.deepEqual(manifest.activationEvents, ['onStartupFinished']);
  });
});
