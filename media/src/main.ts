// Webview entry: inside VS Code it talks to the panel (ready handshake first); on the standalone
// page it reads the traces embedded in the page.
import "../visualizer.css";
import { STANDALONE_DATA_ID, type HostMessage, type StandalonePayload, type WebviewMessage, type WebviewState } from "../../src/shared/visualizerMessages";
import { App } from "./app";

interface VsCodeApi {
  postMessage(message: WebviewMessage): void;
  getState(): WebviewState | undefined;
  setState(state: WebviewState): void;
}
declare const acquireVsCodeApi: (() => VsCodeApi) | undefined;

function start(): void {
  const root = document.getElementById("app");
  if (!root) return;
  const data = document.getElementById(STANDALONE_DATA_ID);
  if (data) {
    const payload = JSON.parse(data.textContent ?? "{}") as StandalonePayload;
    let state: WebviewState | undefined = { selectedId: payload.selectedId, pinned: true, colouring: "order", step: null, focusedSlot: null };
    const app = new App(root, { getState: () => state, setState: (s) => (state = s) });
    app.init(payload.entries, payload.comparison, false);
    return;
  }
  if (typeof acquireVsCodeApi !== "function") return;
  const vscode = acquireVsCodeApi();
  const app = new App(root, { post: (m) => vscode.postMessage(m), getState: () => vscode.getState(), setState: (s) => vscode.setState(s) });
  window.addEventListener("message", (event: MessageEvent<HostMessage>) => {
    const m = event.data;
    switch (m.type) {
      case "init":
        return app.init(m.entries, m.comparison, m.canCompare);
      case "addEntry":
        return app.addEntry(m.entry, m.dropIds);
      case "showComparison":
        return app.showComparison(m.comparison);
      case "compareResult":
        return app.compareResult(m.requestId, m.comparison, m.error);
    }
  });
  vscode.postMessage({ type: "ready" });
}

start();
