// The visualizer's webview panel in VS Code: one panel showing the extension's recent completions,
// and comparisons of policies run through a function the extension supplies.
import * as vscode from 'vscode';
import type { Trace } from '../protocol';
import type { Comparison, HistoryEntry, HostMessage, WebviewMessage } from '../shared/visualizerMessages';
import { describeText } from '../visualizer/describe';
import { makeNonce, visualizerDocument } from '../visualizer/html';

/** The recent completions the panel lets the user pick from (the extension's history fits as is). */
export interface TraceSource {
  /** Oldest first; the panel shows what is in here, so entries dropped here leave the panel too. */
  readonly all: readonly HistoryEntry[];
  readonly onDidAdd: vscode.Event<HistoryEntry>;
}

export interface VisualizerOptions {
  history: TraceSource;
  /**
   * Decodes the infill of `trace` with several policies and returns their traces, the reference
   * (e.g. sequential) first. Enables the panel's "Compare policies" button.
   */
  compare?: (trace: Trace) => Promise<Trace[]>;
}

export class VisualizerPanel implements vscode.Disposable {
  static readonly viewType = 'unmask.visualizer';

  private static panel: VisualizerPanel | undefined;
  private static comparisons = 0;

  /** Opens the panel beside the editor, or reveals the open one (which then takes these options). */
  static show(context: vscode.ExtensionContext, options: VisualizerOptions): VisualizerPanel {
    const open = VisualizerPanel.panel;
    if (open) {
      open.setOptions(options);
      open.panel.reveal(undefined, true);
      return open;
    }
    const mediaRoot = vscode.Uri.joinPath(context.extensionUri, 'dist', 'media');
    const panel = vscode.window.createWebviewPanel(
      VisualizerPanel.viewType,
      'Unmask: Decoding',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [mediaRoot] },
    );
    const created = new VisualizerPanel(panel, mediaRoot, options);
    VisualizerPanel.panel = created;
    context.subscriptions.push(created);
    return created;
  }

  /** The open panel, if any. */
  static get current(): VisualizerPanel | undefined {
    return VisualizerPanel.panel;
  }

  /** Whether the webview has said `ready` since it last (re)loaded; nothing is posted before. */
  private ready = false;
  /** The entry ids the webview has, to tell it which ones the history dropped. */
  private readonly posted = new Set<string>();
  private comparison: Comparison | null = null;
  private options!: VisualizerOptions;
  private historyListener: vscode.Disposable | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    mediaRoot: vscode.Uri,
    options: VisualizerOptions,
  ) {
    this.setOptions(options);
    const webview = panel.webview;
    const nonce = makeNonce();
    webview.html = visualizerDocument({
      csp: `default-src 'none'; style-src ${webview.cspSource}; script-src 'nonce-${nonce}'; img-src ${webview.cspSource} data:; font-src ${webview.cspSource}`,
      nonce,
      style: { href: webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'visualizer.css')).toString() },
      script: { src: webview.asWebviewUri(vscode.Uri.joinPath(mediaRoot, 'visualizer.js')).toString() },
    });
    this.disposables.push(
      webview.onDidReceiveMessage((m: WebviewMessage) => this.receive(m)),
      // A hidden webview is torn down and reloads when shown again; it then says `ready` anew.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  /** Shows several decodings of one infill side by side, the first being the reference. */
  showComparison(traces: Trace[], label?: string): void {
    this.post({ type: 'showComparison', comparison: this.makeComparison(traces, label) });
  }

  /** The panel's tab, for revealing or for tests. */
  get webviewPanel(): vscode.WebviewPanel {
    return this.panel;
  }

  private post(message: HostMessage): void {
    if (this.ready) void this.panel.webview.postMessage(message);
  }

  private async receive(m: WebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        const entries = this.options.history.all.map(entryOnly);
        this.posted.clear();
        for (const e of entries) this.posted.add(e.id);
        this.post({ type: 'init', entries, comparison: this.comparison, canCompare: !!this.options.compare });
        return;
      }
      case 'requestCompare': {
        const entry = this.options.history.all.find((e) => e.id === m.entryId);
        const compare = this.options.compare;
        const reply = (comparison: Comparison | null, error: string | null) => this.post({ type: 'compareResult', requestId: m.requestId, comparison, error });
        if (!compare) return reply(null, 'comparing is not available');
        if (!entry) return reply(null, 'that completion is no longer in the history');
        try {
          reply(this.makeComparison(await compare(entry.trace), entry.label), null);
        } catch (err) {
          reply(null, err instanceof Error ? err.message : String(err));
        }
        return;
      }
    }
  }

  private setOptions(options: VisualizerOptions): void {
    const changed = this.options?.history !== options.history || !!this.options?.compare !== !!options.compare;
    this.options = options;
    if (!changed) return;
    this.historyListener?.dispose();
    this.historyListener = options.history.onDidAdd((e) => this.added(e));
    // A new source or compare function: the webview starts over from `init`.
    if (this.ready) void this.receive({ type: 'ready' });
  }

  private added(e: HistoryEntry): void {
    if (!this.ready) return;
    const current = new Set(this.options.history.all.map((x) => x.id));
    const dropIds = [...this.posted].filter((id) => !current.has(id));
    for (const id of dropIds) this.posted.delete(id);
    this.posted.add(e.id);
    this.post({ type: 'addEntry', entry: entryOnly(e), dropIds });
  }

  private makeComparison(traces: Trace[], label?: string): Comparison {
    this.comparison = { id: `c${++VisualizerPanel.comparisons}`, label: label ?? describeText(traces[0]?.result.text ?? ''), traces };
    return this.comparison;
  }

  dispose(): void {
    if (VisualizerPanel.panel === this) VisualizerPanel.panel = undefined;
    this.ready = false;
    this.historyListener?.dispose();
    while (this.disposables.length) this.disposables.pop()!.dispose();
    this.panel.dispose();
  }
}

/** Only what the webview uses, whatever else the source keeps with each entry. */
function entryOnly({ id, label, time, trace }: HistoryEntry): HistoryEntry {
  return { id, label, time, trace };
}
