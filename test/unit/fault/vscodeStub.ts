// The few parts of the `vscode` API that the completion provider and Fill Selection touch, for driving them on Node
// (the editor tests in test/editor drive the real ones). Import this module before any module that imports vscode.
import Module from 'node:module';

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
  get isSingleLine(): boolean {
    return this.start.line === this.end.line;
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}
export class InlineCompletionItem {
  constructor(
    readonly insertText: string,
    readonly range: Range,
  ) {}
}
export class ThemeColor {
  constructor(readonly id: string) {}
}
export class EventEmitter<T> {
  private readonly listeners = new Set<(e: T) => void>();
  readonly event = (l: (e: T) => void) => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of this.listeners) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

/** What the code under test showed the user, in order. */
export const shown: { kind: 'info' | 'warning' | 'error'; message: string }[] = [];
/** The editor `window.activeTextEditor` returns; set by a test. */
export const editorState: { active?: unknown } = {};

/** A one-document editor over `text` with the selection [from, to) as offsets. */
export function fakeEditor(text: string, from: number, to: number, fileName = '/tmp/example.py'): unknown {
  const positionAt = (offset: number) => {
    const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
    const lines = before.split('\n');
    return new Position(lines.length - 1, lines.at(-1)!.length);
  };
  const offsetAt = (p: Position) =>
    text
      .split('\n')
      .slice(0, p.line)
      .reduce((n, l) => n + l.length + 1, 0) + p.character;
  const document = {
    fileName,
    version: 1,
    uri: { path: fileName },
    languageId: 'python',
    positionAt,
    offsetAt,
    getText: (r: Range) => text.slice(offsetAt(r.start), offsetAt(r.end)),
  };
  const selection = new Range(positionAt(from), positionAt(to));
  return { document, selection, setDecorations: () => undefined, edit: async () => true };
}

const stub = {
  Position,
  Range,
  InlineCompletionItem,
  ThemeColor,
  EventEmitter,
  InlineCompletionTriggerKind: { Invoke: 0, Automatic: 1 },
  ProgressLocation: { Notification: 15 },
  workspace: { getConfiguration: () => ({ get: (_key: string, fallback: unknown) => fallback }) },
  window: {
    get activeTextEditor() {
      return editorState.active;
    },
    showInformationMessage: async (message: string) => {
      shown.push({ kind: 'info', message });
      return undefined;
    },
    showWarningMessage: async (message: string) => {
      shown.push({ kind: 'warning', message });
      return undefined;
    },
    showErrorMessage: async (message: string) => {
      shown.push({ kind: 'error', message });
      return undefined;
    },
    withProgress: async (_options: unknown, task: (progress: unknown, token: unknown) => Promise<unknown>) =>
      task({ report: () => undefined }, { onCancellationRequested: () => ({ dispose: () => undefined }) }),
    createTextEditorDecorationType: () => ({ dispose: () => undefined }),
  },
};

const ID = '\0vscode-stub';
const resolve = (Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string })._resolveFilename;
(Module as unknown as { _resolveFilename: typeof resolve })._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? ID : resolve.call(this, request, ...rest);
};
const cached = new Module(ID);
cached.exports = stub;
cached.loaded = true;
require.cache[ID] = cached;
