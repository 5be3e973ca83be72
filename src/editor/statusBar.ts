// The status bar item: on or off, the model and execution provider, the last completion's latency, forwards and
// tokens per forward, and a spinner while a decode runs. A click opens the menu of Unmask's commands.
import * as vscode from 'vscode';
import type { Context } from './context';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('unmask.status', vscode.StatusBarAlignment.Right, 100);
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly ctx: Context) {
    this.item.name = 'Unmask';
    this.item.command = 'unmask.showMenu';
    this.subscriptions = [ctx.model.onDidChange(() => this.render()), ctx.history.onDidAdd(() => this.render()), ctx.config.onDidChange(() => this.render())];
    this.render();
    this.item.show();
  }

  private render(): void {
    const { model, history, config } = this.ctx;
    const state = model.state;
    const last = history.last;
    const plan = last?.trace.plan;
    const planned = plan ? ` (planned ${plan.expectedMs} ms${plan.shrunk ? `, context cut to ${plan.contextTokens} tokens` : ''})` : '';
    const stats = last
      ? `${Math.round(last.latencyMs)} ms${planned} · ${last.trace.stats.forwards} fwd · ${last.trace.stats.tokensPerForward.toFixed(1)} tok/fwd`
      : '';
    const on = config.current.enable;
    let icon = on ? '$(sparkle)' : '$(circle-slash)';
    if (model.busy || state.kind === 'loading') icon = '$(sync~spin)';
    let text = `${icon} Unmask`;
    const tooltip = new vscode.MarkdownString('', true);
    tooltip.appendMarkdown(`**Unmask** — inline completions ${on ? 'on' : 'off'}\n\n`);
    this.item.backgroundColor = undefined;
    if (state.kind === 'ready') {
      text += ` ${state.info.name} (${state.info.executionProvider})`;
      tooltip.appendMarkdown(`Model: ${state.info.name}, ${state.info.executionProvider}, ${state.info.threads} threads\n\n`);
      if (!config.current.modelFolder) tooltip.appendMarkdown('The bundled model is a tiny demonstrator; **Unmask: Get Model…** gets a real one.\n\n');
    } else if (state.kind === 'loading') {
      text += ' loading…';
      tooltip.appendMarkdown(`Loading the model from ${state.folder}\n\n`);
    } else {
      text += ' no model';
      tooltip.appendMarkdown(`No model loaded: ${state.reason}\n\n`);
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    }
    if (!on) text += ' off';
    else if (stats) text += ` · ${stats}`;
    if (last) tooltip.appendMarkdown(`Last completion: ${stats}, stopped by ${last.trace.result.stoppedBy}\n\n`);
    tooltip.appendMarkdown('Click for Unmask commands.');
    this.item.text = text;
    this.item.tooltip = tooltip;
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
