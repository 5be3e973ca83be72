// The in-editor checks through the VS Code API (the code-server suite checks the same by what a user sees).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const until = async (condition, what, timeout = 60_000) => {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('Unmask in VS Code (test-electron)', () => {
  it('activates and registers every contributed command', async () => {
    const extension = vscode.extensions.getExtension('unmask.unmask');
    assert.ok(extension, 'extension unmask.unmask is installed');
    await extension.activate();
    const registered = await vscode.commands.getCommands(true);
    for (const { command } of extension.packageJSON.contributes.commands) assert.ok(registered.includes(command), command);
  });

  it('the toggle flips unmask.enable', async () => {
    const before = vscode.workspace.getConfiguration('unmask').get('enable');
    await vscode.commands.executeCommand('unmask.toggleInlineCompletions');
    await until(async () => vscode.workspace.getConfiguration('unmask').get('enable') === !before, 'unmask.enable to flip');
    await vscode.commands.executeCommand('unmask.toggleInlineCompletions');
    await until(async () => vscode.workspace.getConfiguration('unmask').get('enable') === before, 'unmask.enable to flip back');
  });

  it('the provider answers with the model\'s completion in a Python file', async () => {
    const folder = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const document = await vscode.workspace.openTextDocument(path.join(folder, 'main.py'));
    const editor = await vscode.window.showTextDocument(document);
    const end = document.lineAt(document.lineCount - 1).range.end;
    await editor.edit((e) => e.insert(end, '\n\ndef square(x):\n    return x * '));
    const position = document.lineAt(document.lineCount - 1).range.end;
    const items = await vscode.commands.executeCommand('vscode.executeInlineCompletionItemProvider', document.uri, position);
    assert.ok(Array.isArray(items?.items ?? items), 'the inline completion provider answered');
    assert.ok(fs.existsSync(folder));
  });
});
