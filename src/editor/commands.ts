// The command palette actions, each a small factory over the Context.
import * as os from 'node:os';
import * as vscode from 'vscode';
import type { Context } from './context';
import { noModelMessage } from './fillSelection';
import { DEFAULT_POLICY, describeParameter, POLICY_NAMES, POLICY_TABLE } from '../engine/policyTable';
import { checkModelFolderAsync } from '../modelFolder';
import { isCancelled } from './modelSession';
import { compareLast, showVisualizer } from './visualizerBridge';

export type Command = (...args: unknown[]) => unknown;

export function triggerCompletion(ctx: Context): Command {
  return async () => {
    if (!ctx.config.current.enable) {
      const choice = await vscode.window.showInformationMessage('Unmask: inline completions are off.', 'Turn On');
      if (choice) await ctx.config.update('enable', true);
      else return;
    }
    if (!ctx.model.info && !(await ctx.model.ready())) {
      void vscode.window.showWarningMessage(noModelMessage(ctx));
      return;
    }
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
  };
}

export function toggleInlineCompletions(ctx: Context): Command {
  return async () => {
    const enable = !ctx.config.current.enable;
    await ctx.config.update('enable', enable);
    if (!enable) await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    vscode.window.setStatusBarMessage(`Unmask: inline completions ${enable ? 'on' : 'off'}`, 3000);
  };
}

export function choosePolicy(ctx: Context): Command {
  return async () => {
    const current = ctx.config.current.policy.name;
    const picked = await vscode.window.showQuickPick(
      POLICY_NAMES.map((name) => {
        const { parameter, trade, rule } = POLICY_TABLE[name];
        const notes = [trade, ...(name === DEFAULT_POLICY.name ? ['default'] : []), ...(name === current ? ['current'] : [])];
        const detail = parameter ? `${rule} (unmask.policyParameter = ${describeParameter(parameter)})` : rule;
        return { label: name, description: notes.join(' · '), detail, name };
      }),
      { title: 'Unmask: decoding policy', placeHolder: 'Which slots to unmask together at each denoising step' },
    );
    if (!picked) return;
    await ctx.config.update('policy', picked.name);
    await ctx.config.update('policyParameter', null);
    vscode.window.setStatusBarMessage(`Unmask: decoding with ${picked.name}`, 3000);
  };
}

export function chooseModelFolder(ctx: Context): Command {
  return async () => {
    const picked = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      canSelectMany: false,
      title: 'Unmask: choose a model folder (model.onnx, tokenizer.json, unmask.json)',
      openLabel: 'Use This Model',
    });
    if (!picked?.[0]) return;
    const folder = picked[0].fsPath;
    const problem = await checkModelFolderAsync(folder);
    if (problem) {
      void vscode.window.showErrorMessage(`Unmask: not a model folder: ${problem}.`);
      return;
    }
    await ctx.config.update('modelFolder', folder);
  };
}

export function compareDecoding(ctx: Context): Command {
  return async () => {
    if (!ctx.history.last) {
      void vscode.window.showInformationMessage(
        ctx.model.info ? 'Unmask: no completion yet to compare. Type in a file (or run "Unmask: Trigger Completion") first.' : noModelMessage(ctx),
      );
      return;
    }
    const controller = new AbortController();
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Unmask: decoding with every policy…', cancellable: true },
        (_progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          return compareLast(ctx, controller.signal);
        },
      );
    } catch (error) {
      if (!isCancelled(error)) throw error;
    }
  };
}

export function openVisualizer(ctx: Context): Command {
  return () => {
    if (!ctx.history.last) {
      void vscode.window.showInformationMessage(
        ctx.model.info ? 'Unmask: no completion yet. Type in a file (or run "Unmask: Trigger Completion"), then open the visualizer.' : noModelMessage(ctx),
      );
      return;
    }
    showVisualizer(ctx);
  };
}

export function copyDebugInfo(ctx: Context): Command {
  return async () => {
    const info = ctx.model.info;
    const lines = [
      `Unmask ${ctx.version}`,
      `${vscode.env.appName} ${vscode.version} (${vscode.env.appHost}), Node ${process.versions.node}, ${process.platform}-${process.arch}, ${os.cpus().length} cores`,
      `model: ${info ? `${info.name} from ${info.modelDir}, vocab ${info.vocabSize}, context ${info.maxSequence}` : noModelMessage(ctx)}`,
      `execution provider: ${info ? `${info.executionProvider}, ${info.threads} threads${info.fallbackReason ? `, fell back: ${info.fallbackReason}` : ''}` : '-'}`,
      `settings: ${JSON.stringify(ctx.config.current)}`,
      'last completions:',
      ...ctx.history.all
        .slice(-10)
        .map(
          (c) =>
            `  ${c.label} ${Math.round(c.latencyMs)} ms, ${c.trace.stats.forwards} forwards, ` +
            `${c.trace.stats.tokens} tokens, ${c.trace.stats.tokensPerForward.toFixed(2)} tok/fwd, model ${c.trace.stats.msModel.toFixed(0)} ms, ` +
            `${JSON.stringify(c.trace.policy)}, stopped by ${c.trace.result.stoppedBy}`,
        ),
    ];
    await vscode.env.clipboard.writeText(lines.join('\n'));
    void vscode.window.showInformationMessage('Unmask: debug info copied to the clipboard.');
  };
}

export function showMenu(): Command {
  return async () => {
    const items = [
      ['unmask.toggleInlineCompletions', 'Toggle Inline Completions'],
      ['unmask.triggerCompletion', 'Trigger Completion'],
      ['unmask.fillSelection', 'Fill Selection'],
      ['unmask.openVisualizer', 'Open Decoding Visualizer'],
      ['unmask.compareDecoding', 'Compare Decoding Policies on the Last Completion'],
      ['unmask.choosePolicy', 'Choose Decoding Policy'],
      ['unmask.chooseModelFolder', 'Choose Model Folder'],
      ['unmask.getModel', 'Get Model…'],
      ['unmask.manageModels', 'Manage Models'],
      ['unmask.copyDebugInfo', 'Copy Debug Info'],
      ['unmask.showLog', 'Show Log'],
    ].map(([command, label]) => ({ label, command }));
    const picked = await vscode.window.showQuickPick(items, { title: 'Unmask' });
    if (picked) await vscode.commands.executeCommand(picked.command);
  };
}

export function showLog(ctx: Context): Command {
  return () => ctx.log.show();
}
