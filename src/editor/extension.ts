// Unmask's entry point: builds the Context and registers what the user touches.
import * as vscode from 'vscode';
import * as commands from './commands';
import { CompletionProvider, completionSelector } from './completionProvider';
import { Context } from './context';
import { fillSelection } from './fillSelection';
import { getModelCommand, manageModelsCommand, showDemonstratorNotice } from './hubCommands';
import { setServerTokenCommand } from './remoteCommands';
import { StatusBar } from './statusBar';

let ctx: Context | undefined;

export function activate(extension: vscode.ExtensionContext): void {
  ctx = new Context(extension);
  extension.subscriptions.push(ctx);
  ctx.log.info(`Unmask ${ctx.version} activating (${vscode.env.appName} ${vscode.version})`);

  ctx.registerCommand('unmask.triggerCompletion', commands.triggerCompletion(ctx));
  ctx.registerCommand('unmask.fillSelection', () => fillSelection(ctx!));
  ctx.registerCommand('unmask.toggleInlineCompletions', commands.toggleInlineCompletions(ctx));
  ctx.registerCommand('unmask.choosePolicy', commands.choosePolicy(ctx));
  ctx.registerCommand('unmask.chooseModelFolder', commands.chooseModelFolder(ctx));
  ctx.registerCommand('unmask.getModel', getModelCommand(ctx));
  ctx.registerCommand('unmask.manageModels', manageModelsCommand(ctx));
  ctx.registerCommand('unmask.setServerToken', setServerTokenCommand(ctx));
  ctx.registerCommand('unmask.openVisualizer', commands.openVisualizer(ctx));
  ctx.registerCommand('unmask.compareDecoding', commands.compareDecoding(ctx));
  ctx.registerCommand('unmask.copyDebugInfo', commands.copyDebugInfo(ctx));
  ctx.registerCommand('unmask.showMenu', commands.showMenu());
  ctx.registerCommand('unmask.showLog', commands.showLog(ctx));

  ctx.pushCleanup(vscode.languages.registerInlineCompletionItemProvider(completionSelector, new CompletionProvider(ctx)));
  ctx.pushCleanup(new StatusBar(ctx));

  void ctx.model.load().then((info) => {
    if (info) void showDemonstratorNotice(ctx!);
  });
}

export function deactivate(): void {
  ctx?.dispose();
  ctx = undefined;
}
