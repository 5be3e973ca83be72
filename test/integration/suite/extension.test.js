// The in-editor checks through the VS Code API (the code-server suite checks the same by what a user sees).
const assert = require('node:assert/strict');
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

  it("the provider answers with the model's completion in a Python file", async () => {
    // the gate off: the barely trained model is rarely sure, and this checks the provider, not the gate
    await vscode.workspace.getConfiguration('unmask').update('minConfidence', 0, vscode.ConfigurationTarget.Global);
    const folder = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const document = await vscode.workspace.openTextDocument(path.join(folder, 'main.py'));
    const editor = await vscode.window.showTextDocument(document);
    const answers = [];
    for (const prompt of ['\n\ndef square(x):\n    return x * ', '\nprint(', '\nfor name in ']) {
      const end = document.lineAt(document.lineCount - 1).range.end;
      await editor.edit((e) => e.insert(end, prompt));
      const position = document.lineAt(document.lineCount - 1).range.end;
      const result = await vscode.commands.executeCommand('vscode.executeInlineCompletionItemProvider', document.uri, position, {
        triggerKind: vscode.InlineCompletionTriggerKind.Invoke,
        selectedCompletionInfo: undefined,
      });
      const items = result?.items ?? result ?? [];
      const text = items.map((i) => (typeof i.insertText === 'string' ? i.insertText : (i.insertText?.value ?? ''))).join('');
      answers.push(JSON.stringify(text));
      if (text.trim()) return;
    }
    assert.fail(`the provider answered no visible completion for any prompt: ${answers.join(', ')}`);
  });
});
