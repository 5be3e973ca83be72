// Fill selection: the model refills the selected text from what comes before and after it — infill is what a
// diffusion model does natively. The result is previewed on the selection until the user accepts or discards it.
import * as vscode from 'vscode';
import type { Context } from './context';
import { textAround } from './completionProvider';
import { buildRequest } from '../engine/request';
import { errorMessage, isCancelled } from './modelSession';

export async function fillSelection(ctx: Context): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.selection.isEmpty) {
    void vscode.window.showInformationMessage('Unmask: select the text to fill first.');
    return;
  }
  const info = await ctx.model.ready();
  if (!info) {
    void vscode.window.showWarningMessage(noModelMessage(ctx));
    return;
  }
  const { document, selection } = editor;
  const range = new vscode.Range(selection.start, selection.end);
  const version = document.version;
  const multiLine = !range.isSingleLine;
  // the selection's own shape decides single- or multi-line (and so the slot budget)
  const request = buildRequest(textAround(document, range.start, range.end, info.maxSequence), ctx.config.current, !multiLine);
  const started = performance.now();
  // its own channel: inline completions do not supersede it; the notification's Cancel button does
  const controller = new AbortController();
  let trace;
  try {
    trace = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Unmask: filling the selection', cancellable: true },
      (_progress, token) => {
        token.onCancellationRequested(() => controller.abort());
        return ctx.model.complete(request, controller.signal, 'fill');
      },
    );
  } catch (error) {
    if (isCancelled(error)) {
      // the user's own Cancel needs no answer; anything else that stopped the fill is said, or the fill is just gone
      if (!controller.signal.aborted) void vscode.window.showWarningMessage(fillCancelledMessage(error));
      return;
    }
    throw error;
  }
  const suggestion = trace.result.text;
  ctx.history.add({
    label: `fill ${document.fileName.split(/[\\/]/).pop()}:${range.start.line + 1}`,
    trace,
    latencyMs: performance.now() - started,
    suggestion,
  });
  if (!suggestion) {
    void vscode.window.showInformationMessage('Unmask: the model left the selection empty; nothing to fill.');
    return;
  }
  const preview = vscode.window.createTextEditorDecorationType({
    textDecoration: 'line-through',
    opacity: '0.6',
    after: { color: new vscode.ThemeColor('editorGhostText.foreground'), margin: '0 0 0 1em' },
  });
  editor.setDecorations(preview, [{ range, renderOptions: { after: { contentText: `→ ${suggestion.split('\n')[0]}${multiLine ? ' …' : ''}` } } }]);
  try {
    const choice = await vscode.window.showInformationMessage(`Unmask: replace the selection with “${ellipsis(suggestion)}”?`, 'Accept', 'Discard');
    if (choice !== 'Accept') return;
    if (document.version !== version) {
      void vscode.window.showWarningMessage('Unmask: the document changed since the fill was made; discarded it.');
      return;
    }
    await editor.edit((edit) => edit.replace(range, suggestion));
  } finally {
    preview.dispose();
  }
}

/** Why a Fill Selection the user did not cancel was cancelled, and that the selection is unchanged. */
export function fillCancelledMessage(error: unknown): string {
  const reason = errorMessage(error);
  const why = reason === 'completion cancelled' || reason === 'Cancelled' ? 'the model server cancelled it' : reason;
  return `Unmask: Fill Selection was cancelled before it finished (${why}); the selection is unchanged. Run it again to fill it.`;
}

export function noModelMessage(ctx: Context): string {
  const state = ctx.model.state;
  return state.kind === 'failed'
    ? `Unmask: no model is loaded (${state.reason}). Choose one with "Unmask: Choose Model Folder".`
    : 'Unmask: the model is still loading.';
}

function ellipsis(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 60 || text.includes('\n') ? `${line.slice(0, 60)}…` : line;
}
