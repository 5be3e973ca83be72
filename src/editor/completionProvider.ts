// Inline completions: debounced to the typing speed (the one debounce), a cache for typing through a suggestion, and the gate: a
// completion the model is not sure of is not shown (docs/architecture.md, "The gate").
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CompletionCache } from '../completionCache';
import type { Context } from './context';
import { AdaptiveDebounce, sleep } from '../debounce';
import { BOUNDS } from '../engine/bounds';
import { contextChars } from '../engine/canvas';
import { formatConfidence, passesGate } from '../engine/gate';
import { buildRequest, type CursorText } from '../engine/request';
import { errorMessage, isCancelled } from './modelSession';
import { isLanguageEnabled } from '../settings';

/** Only real documents: never chat inputs, output panes or the SCM input box. */
export const completionSelector: vscode.DocumentSelector = [{ scheme: 'file' }, { scheme: 'untitled' }];

export class CompletionProvider implements vscode.InlineCompletionItemProvider {
  private readonly debounce = new AdaptiveDebounce();
  private readonly cache = new CompletionCache();

  constructor(private readonly ctx: Context) {
    ctx.pushCleanup(ctx.config.onDidChange(() => this.cache.clear()));
    ctx.pushCleanup(
      ctx.model.onDidChange(() => {
        if (ctx.model.state.kind !== 'ready') this.cache.clear();
      }),
    );
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const settings = this.ctx.config.current;
    if (!settings.enable || !isLanguageEnabled(settings, document.languageId)) return undefined;
    if (!vscode.workspace.getConfiguration('editor', document).get<boolean>('inlineSuggest.enabled', true)) return undefined;

    // The editor cancels this request's token when it asks again (that ends the wait below); a newer completion
    // supersedes this one's decode in the model client's scheduler, and this one then settles with nothing.
    const controller = new AbortController();
    const onCancel = token.onCancellationRequested(() => controller.abort());
    try {
      const text = textAround(document, position, position, this.ctx.model.info?.maxSequence);
      const cached = this.cache.get(text.before, text.after);
      if (cached !== undefined) return cached ? [item(cached, position)] : undefined;

      const explicit = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
      if (!explicit && !(await sleep(this.debounce.delayFor(settings.debounceMs), controller.signal))) return undefined;

      const info = await this.ctx.model.ready();
      if (!info || controller.signal.aborted) return undefined;
      const request = buildRequest(text, settings);
      const started = performance.now();
      const trace = await this.ctx.model.complete(request, controller.signal);
      const latencyMs = performance.now() - started;
      const { confidence } = trace.result;
      const shown = passesGate(confidence, settings.minConfidence);
      const suggestion = shown ? trace.result.text : '';
      const label = `${path.basename(document.uri.path)}:${position.line + 1}:${position.character + 1}`;
      this.ctx.history.add({ label, trace, latencyMs, suggestion, minConfidence: settings.minConfidence });
      this.ctx.log.info(
        `completion ${label}: ${Math.round(latencyMs)} ms, ${trace.stats.forwards} forwards, ` +
          `${trace.stats.tokens} tokens, stopped by ${trace.result.stoppedBy}, confidence ${formatConfidence(confidence)}` +
          `${shown ? '' : ` below unmask.minConfidence ${settings.minConfidence}: not shown`}: ${JSON.stringify(trace.result.text)}`,
      );
      this.cache.set(text.before, text.after, suggestion);
      if (controller.signal.aborted || !suggestion) return undefined;
      return [item(suggestion, position)];
    } catch (error) {
      if (isCancelled(error)) {
        this.ctx.log.debug('completion superseded');
        return undefined;
      }
      this.ctx.log.error(`completion failed: ${errorMessage(error)}`);
      return undefined;
    } finally {
      onCancel.dispose();
    }
  }
}

/**
 * The text before `start` and after `end` (the cursor when they are equal), up to the engine's bound for the
 * model's window on each side, so a huge file (or a minified one with very long lines) is not copied per keystroke.
 */
export function textAround(document: vscode.TextDocument, start: vscode.Position, end = start, maxSequence?: number): CursorText {
  // before the model's window is known: the most any model may have
  const chars = contextChars(maxSequence ?? BOUNDS.maxSequence.max);
  const from = document.positionAt(Math.max(0, document.offsetAt(start) - chars));
  const to = document.positionAt(document.offsetAt(end) + chars);
  return { before: document.getText(new vscode.Range(from, start)), after: document.getText(new vscode.Range(end, to)) };
}

function item(text: string, position: vscode.Position): vscode.InlineCompletionItem {
  return new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
}
