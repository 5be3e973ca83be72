// The editor's side of the team server (serve/README.md): the token in VS Code's secret storage, set by a command.
import * as vscode from 'vscode';
import type { Context } from './context';

export const SERVER_TOKEN_SECRET = 'unmask.serverToken';

/** Unmask: Set Server Token: asks for the token the server was started with (UNMASK_SERVER_TOKEN) and reloads. */
export function setServerTokenCommand(ctx: Context): () => Promise<void> {
  return async () => {
    const token = await vscode.window.showInputBox({
      title: 'Unmask: team server token',
      prompt: "The token the server was started with (UNMASK_SERVER_TOKEN); kept in VS Code's secret storage. Empty: remove it.",
      password: true,
      ignoreFocusOut: true,
    });
    if (token === undefined) return;
    if (token.trim()) await ctx.extension.secrets.store(SERVER_TOKEN_SECRET, token.trim());
    else await ctx.extension.secrets.delete(SERVER_TOKEN_SECRET);
    if (ctx.config.current.serverUrl) await ctx.model.load();
  };
}
