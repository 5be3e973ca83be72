// The visualizer: one trace in its code, coloured by order or confidence, with replay, per-token
// details, a per-step chart, stats, a comparison of policies and a history to pick from.
import type { Colouring, Comparison, HistoryEntry, WebviewMessage, WebviewState } from "../../src/shared/visualizerMessages";
import type { Trace } from "../../src/protocol";
import { confidenceChart, stepChart } from "./charts";
import { fill, h, percent, showText, type Child } from "./dom";
import { buildTraceView, diffAgainst, policyLabel, type SlotView, type TraceView } from "./traceModel";

/** What the app needs from where it runs: the VS Code webview API, or nothing (standalone page). */
export interface AppHost {
  /** Absent on the standalone page: no host to ask for comparisons. */
  post?: (message: WebviewMessage) => void;
  getState(): WebviewState | undefined;
  setState(state: WebviewState): void;
}

const CONTEXT_LINES = 6;
const PLAY_MS = 700;

const initialState: WebviewState = { selectedId: null, pinned: false, colouring: "order", step: null, focusedSlot: null };

export class App {
  private entries: HistoryEntry[] = [];
  private comparison: Comparison | null = null;
  private canCompare = false;
  private state: WebviewState;
  private readonly views = new Map<Trace, TraceView>();
  private nextRequestId = 1;
  private pendingCompare: number | null = null;
  private compareError: string | null = null;
  private playTimer: ReturnType<typeof setInterval> | null = null;
  private hoveredSlot: number | null = null;

  // The page skeleton is built once; each part re-renders on its own.
  private readonly toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Visualizer" });
  private readonly summary = h("div", { class: "summary" });
  private readonly code = h("pre", { class: "code", id: "code", "aria-label": "The completion in its code; arrow keys move between tokens" });
  private readonly legend = h("div", { class: "legend" });
  private readonly replay = h("div", { class: "replay" });
  private readonly details = h("div", { class: "details", id: "details", "aria-live": "polite" });
  private readonly chart = h("div", { class: "chart" });
  private readonly stats = h("div", { class: "stats" });
  private readonly compare = h("section", { class: "compare", id: "compare", "aria-label": "Comparison of policies" });
  private readonly empty = h("div", { class: "empty" }, "No completion yet. Trigger one in an editor and it appears here.");

  constructor(
    private readonly root: HTMLElement,
    private readonly host: AppHost,
  ) {
    this.state = { ...initialState, ...host.getState() };
    root.append(
      this.toolbar,
      this.empty,
      h(
        "main",
        { class: "layout" },
        h(
          "div",
          { class: "main-col" },
          this.summary,
          this.legend,
          this.code,
          this.replay,
          h(
            "div",
            { class: "below" },
            h("section", { class: "chart-box", "aria-label": "Per-step chart" }, h("h2", {}, "Steps"), this.chart),
            h("section", { class: "stats-box", "aria-label": "Stats" }, h("h2", {}, "Stats"), this.stats),
          ),
        ),
        h("aside", { class: "side-col", "aria-label": "Token details" }, this.details),
      ),
      this.compare,
    );
    this.code.addEventListener("keydown", (e) => this.onCodeKey(e));
    this.code.addEventListener("mouseleave", () => this.hover(null));
  }

  // ---- inputs ----

  init(entries: HistoryEntry[], comparison: Comparison | null, canCompare: boolean): void {
    this.entries = entries;
    this.comparison = comparison;
    this.canCompare = canCompare;
    // A reload (the panel was hidden) keeps the selection when pinned or comparing; otherwise follow the newest.
    const id = this.state.selectedId;
    const keep = this.traceFor(id) && (this.state.pinned || id?.startsWith("cmp:") || !entries.length);
    if (!keep) {
      const newest = entries.at(-1)?.id ?? (comparison ? `cmp:${comparison.id}:0` : null);
      if (newest !== id) this.state = { ...this.state, selectedId: newest, step: null, focusedSlot: null };
    }
    this.save();
    this.renderAll();
  }

  addEntry(entry: HistoryEntry, dropIds: string[]): void {
    this.entries = this.entries.filter((e) => !dropIds.includes(e.id) && e.id !== entry.id).concat(entry);
    if (!this.state.pinned || !this.traceFor(this.state.selectedId)) this.select(entry.id);
    else this.renderToolbar();
  }

  showComparison(comparison: Comparison): void {
    this.comparison = comparison;
    this.compareError = null;
    this.renderCompare();
    this.renderToolbar();
    this.compare.scrollIntoView?.({ block: "nearest" });
  }

  compareResult(requestId: number, comparison: Comparison | null, error: string | null): void {
    if (requestId !== this.pendingCompare) return;
    this.pendingCompare = null;
    if (comparison) this.showComparison(comparison);
    else {
      this.compareError = error ?? "the comparison failed";
      this.renderToolbar();
      this.renderCompare();
    }
  }

  // ---- state ----

  private save(): void {
    this.host.setState(this.state);
  }

  private traceFor(id: string | null): Trace | null {
    if (!id) return null;
    const cmp = /^cmp:(.*):(\d+)$/.exec(id);
    if (cmp) return this.comparison?.id === cmp[1] ? (this.comparison.traces[Number(cmp[2])] ?? null) : null;
    return this.entries.find((e) => e.id === id)?.trace ?? null;
  }

  private current(): TraceView | null {
    const trace = this.traceFor(this.state.selectedId);
    if (!trace) return null;
    let view = this.views.get(trace);
    if (!view) this.views.set(trace, (view = buildTraceView(trace)));
    return view;
  }

  private select(id: string | null): void {
    this.stop();
    this.state = { ...this.state, selectedId: id, step: null, focusedSlot: null };
    this.save();
    this.renderAll();
  }

  private setStep(step: number | null): void {
    const view = this.current();
    if (!view) return;
    this.state.step = step === null ? null : Math.max(0, Math.min(view.steps.length, step));
    this.save();
    this.renderCode();
    this.renderReplay();
    this.renderChart();
  }

  private stepsApplied(view: TraceView): number {
    return this.state.step ?? view.steps.length;
  }

  private play(): void {
    const view = this.current();
    if (!view) return;
    if (this.state.step === null || this.state.step >= view.steps.length) this.setStep(0);
    this.playTimer = setInterval(() => {
      const next = this.stepsApplied(view) + 1;
      this.setStep(next);
      if (next >= view.steps.length) this.stop();
    }, PLAY_MS);
    this.renderReplay();
  }

  private stop(): void {
    if (this.playTimer !== null) clearInterval(this.playTimer);
    this.playTimer = null;
    if (this.current()) this.renderReplay();
  }

  // ---- rendering ----

  private renderAll(): void {
    const view = this.current();
    this.root.classList.toggle("has-trace", !!view);
    this.renderToolbar();
    this.renderSummary();
    this.renderLegend();
    this.renderCode();
    this.renderReplay();
    this.renderDetails();
    this.renderChart();
    this.renderStats();
    this.renderCompare();
  }

  private renderToolbar(): void {
    const controls: Child[] = [];
    if (this.entries.length > 1 || this.host.post) {
      const select = h("select", { id: "history", "aria-label": "Recent completions" });
      // Live history newest first; the standalone page keeps the order it was given.
      for (const e of this.host.post ? [...this.entries].reverse() : this.entries) {
        const option = h("option", { value: e.id }, `${new Date(e.time).toLocaleTimeString()} · ${e.label}`);
        option.selected = e.id === this.state.selectedId;
        select.append(option);
      }
      if (this.comparison && this.host.post) {
        this.comparison.traces.forEach((t, i) => {
          const id = `cmp:${this.comparison!.id}:${i}`;
          const option = h("option", { value: id }, `compare · ${policyLabel(t)}`);
          option.selected = id === this.state.selectedId;
          select.append(option);
        });
      }
      select.disabled = select.options.length === 0;
      select.addEventListener("change", () => this.select(select.value));
      controls.push(h("label", { class: "field" }, "Completion ", select));
    }
    if (this.host.post) {
      const pin = h(
        "button",
        {
          id: "pin",
          type: "button",
          "aria-pressed": String(this.state.pinned),
          title: this.state.pinned ? "Pinned: new completions go to the history only" : "Following: each new completion is shown",
        },
        this.state.pinned ? "Pinned" : "Following",
      );
      pin.addEventListener("click", () => {
        this.state.pinned = !this.state.pinned;
        this.save();
        this.renderToolbar();
        if (!this.state.pinned && this.entries.length) this.select(this.entries.at(-1)!.id);
      });
      controls.push(pin);
      const cmp = h(
        "button",
        { id: "compare-button", type: "button", title: "Decode this infill with the other policies" },
        this.pendingCompare !== null ? "Comparing…" : "Compare policies",
      );
      cmp.disabled = !this.canCompare || this.pendingCompare !== null || !this.entries.some((e) => e.id === this.state.selectedId);
      cmp.addEventListener("click", () => this.requestCompare());
      controls.push(cmp);
    }
    const group = h("div", { class: "segmented", role: "radiogroup", "aria-label": "Colouring" });
    for (const [value, label] of [
      ["order", "Order"],
      ["confidence", "Confidence"],
    ] as [Colouring, string][]) {
      const checked = this.state.colouring === value;
      const b = h("button", { type: "button", role: "radio", "aria-checked": String(checked), "data-colouring": value, tabindex: checked ? 0 : -1 }, label);
      b.addEventListener("click", () => this.setColouring(value));
      b.addEventListener("keydown", (e) => {
        if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(e.key)) {
          e.preventDefault();
          this.setColouring(value === "order" ? "confidence" : "order");
          group.querySelector<HTMLElement>('[aria-checked="true"]')?.focus();
        }
      });
      group.append(b);
    }
    fill(
      this.toolbar,
      h("span", { class: "title" }, "Unmask"),
      ...controls,
      h("span", { class: "spacer" }),
      h("span", { class: "field" }, "Colour by ", group),
    );
  }

  private setColouring(colouring: Colouring): void {
    this.state.colouring = colouring;
    this.save();
    this.renderToolbar();
    this.renderLegend();
    this.renderCode();
    this.renderCompare();
  }

  private requestCompare(): void {
    const entryId = this.state.selectedId;
    if (!this.host.post || !entryId) return;
    this.pendingCompare = this.nextRequestId++;
    this.compareError = null;
    this.host.post({ type: "requestCompare", requestId: this.pendingCompare, entryId });
    this.renderToolbar();
    this.renderCompare();
  }

  private renderSummary(): void {
    const view = this.current();
    if (!view) return fill(this.summary);
    const t = view.trace;
    fill(
      this.summary,
      h("span", { class: "policy" }, policyLabel(t)),
      h("span", {}, `${t.stats.tokens} tokens in ${t.stats.forwards} forwards (${t.stats.tokensPerForward.toFixed(2)} per forward)`),
      h("span", {}, `${t.stats.msTotal.toFixed(0)} ms`),
      t.plan ? h("span", {}, `planned ${t.plan.expectedMs} ms of ${t.plan.budgetMs}`) : null,
      t.stats.reusedRows ? h("span", {}, `${t.stats.reusedRows} rows reused from the last completion`) : null,
      h("span", {}, `stopped by ${t.result.stoppedBy}`),
      view.matchesResult ? null : h("span", { class: "warn" }, "the tokens do not spell the shaped result exactly"),
    );
  }

  /** The colour of a filled slot under the current colouring, as a CSS colour expression. */
  private colourOf(v: SlotView, stepCount: number): string {
    const t = this.state.colouring === "order" ? (stepCount <= 1 ? 0 : v.step / (stepCount - 1)) : v.p;
    return scaleColour(this.state.colouring, t);
  }

  private renderLegend(): void {
    const view = this.current();
    if (!view) return fill(this.legend);
    const n = view.steps.length;
    const stops = this.state.colouring === "order" ? [0, 0.25, 0.5, 0.75, 1] : [0, 0.5, 1];
    const gradient = `linear-gradient(to right, ${stops.map((t) => `${scaleColour(this.state.colouring, t)} ${t * 100}%`).join(", ")})`;
    const [lo, hi, caption] =
      this.state.colouring === "order"
        ? ["step 1", `step ${n}`, "Order: the step at which each token was unmasked"]
        : ["p 0", "p 1", "Confidence: the probability of each token when it was unmasked"];
    fill(
      this.legend,
      h("span", { class: "legend-caption" }, caption),
      h("span", { class: "legend-end" }, lo),
      h("span", { class: "legend-bar", style: `background: ${gradient}`, "data-colouring": this.state.colouring }),
      h("span", { class: "legend-end" }, hi),
      h("span", { class: "legend-key" }, h("span", { class: "tok mask demo" }), " masked ", h("span", { class: "tok pad demo" }), " pad"),
    );
  }

  private renderCode(): void {
    const view = this.current();
    if (!view) return fill(this.code);
    const hadFocus = this.code.contains(document.activeElement);
    const applied = this.stepsApplied(view);
    const replaying = this.state.step !== null;
    const t = view.trace;
    const prefixLines = t.prefixText.split("\n");
    const suffixLines = t.suffixText.split("\n");
    const prefix = prefixLines.slice(-CONTEXT_LINES).join("\n");
    const suffix = suffixLines.slice(0, CONTEXT_LINES).join("\n");
    const focusSlot = this.state.focusedSlot ?? view.slots[0]?.slot ?? 0;
    const children: Node[] = [h("span", { class: "context prefix" }, prefixLines.length > CONTEXT_LINES ? "⋯\n" : "", prefix)];
    for (const v of view.slots) {
      const shown = v.step >= 0 && v.step < applied;
      const kind = shown ? v.kind : "masked";
      const el = h("span", {
        class: `tok ${kind}${replaying && v.step === applied - 1 ? " fresh" : ""}`,
        "data-slot": v.slot,
        "data-kind": kind,
        "data-step": shown ? v.step + 1 : null,
        "data-p": shown ? v.p.toFixed(4) : null,
        "data-score": shown && v.score !== null ? v.score.toFixed(4) : null,
        tabindex: v.slot === focusSlot ? 0 : -1,
        role: "button",
        "aria-label": this.describe(v, shown),
      });
      if (shown && kind !== "masked") el.style.setProperty("--c", this.colourOf(v, view.steps.length));
      if (shown && (kind === "token" || kind === "cut")) {
        const keep = kind === "cut" ? 0 : v.keep;
        if (keep > 0) el.append(textWithEols("t", v.text.slice(0, keep)));
        if (keep < v.text.length) el.append(textWithEols("cut-text", v.text.slice(keep)));
      }
      el.addEventListener("mouseenter", () => this.hover(v.slot));
      el.addEventListener("focus", () => this.focusSlot(v.slot, false));
      children.push(el);
    }
    children.push(h("span", { class: "context suffix" }, suffix, suffixLines.length > CONTEXT_LINES ? "\n⋯" : ""));
    fill(this.code, ...children);
    if (hadFocus) this.code.querySelector<HTMLElement>(`[data-slot="${focusSlot}"]`)?.focus();
  }

  private describe(v: SlotView, shown: boolean): string {
    if (!shown) return `slot ${v.slot + 1}, masked`;
    const what = v.kind === "pad" ? "pad" : `"${showText(v.text)}"${v.kind === "cut" ? ", cut" : ""}`;
    return `slot ${v.slot + 1}, ${what}, step ${v.step + 1}, p ${v.p.toFixed(2)}${v.score !== null ? `, filter score ${v.score.toFixed(2)}` : ""}`;
  }

  private onCodeKey(e: KeyboardEvent): void {
    const view = this.current();
    if (!view || !view.slots.length) return;
    const at = this.state.focusedSlot ?? 0;
    const last = view.slots.length - 1;
    const next = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: last }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    this.focusSlot(Math.max(0, Math.min(last, next)), true);
  }

  private focusSlot(slot: number, moveFocus: boolean): void {
    if (this.state.focusedSlot !== slot) {
      this.state.focusedSlot = slot;
      this.save();
      for (const el of this.code.querySelectorAll<HTMLElement>(".tok")) el.tabIndex = Number(el.dataset.slot) === slot ? 0 : -1;
    }
    if (moveFocus) this.code.querySelector<HTMLElement>(`[data-slot="${slot}"]`)?.focus();
    this.renderDetails();
  }

  private hover(slot: number | null): void {
    if (this.hoveredSlot === slot) return;
    this.hoveredSlot = slot;
    this.renderDetails();
  }

  private renderReplay(): void {
    const view = this.current();
    if (!view) return fill(this.replay);
    const n = view.steps.length;
    const applied = this.stepsApplied(view);
    const playing = this.playTimer !== null;
    const button = h("button", { id: "play", type: "button", "aria-label": playing ? "Pause" : "Play the decoding" }, playing ? "❚❚ Pause" : "▶ Play");
    button.addEventListener("click", () => (playing ? this.stop() : this.play()));
    const slider = h("input", {
      id: "step",
      type: "range",
      min: 0,
      max: n,
      step: 1,
      value: applied,
      "aria-label": "Steps applied",
      "aria-valuetext": `${applied} of ${n} steps`,
    });
    slider.addEventListener("input", () => {
      const k = Number(slider.value);
      this.stop();
      this.setStep(k);
      slider.focus();
    });
    const st = view.steps[applied - 1];
    const caption =
      applied === 0
        ? `Before step 1: all ${view.slots.length} slots masked`
        : `After step ${applied} of ${n}: ${st.real} token${st.real === 1 ? "" : "s"}${st.pads ? ` and ${st.pads} pad${st.pads === 1 ? "" : "s"}` : ""} unmasked` +
          (st.pendingCount ? `, ${st.pendingCount} still masked` : "") +
          (st.drafted ? " · accepted from a draft (no forward of its own)" : st.batch ? ` · one forward batched over ${st.batch} canvases` : "") +
          ` · ${st.ms.toFixed(1)} ms`;
    const existing = this.replay.querySelector<HTMLInputElement>("#step");
    if (existing && document.activeElement === existing) {
      // Keep the slider element (and its focus) while dragging; refresh only what it shows.
      existing.max = String(n);
      existing.value = String(applied);
      existing.setAttribute("aria-valuetext", `${applied} of ${n} steps`);
      this.replay.querySelector("#play")!.replaceWith(button);
      this.replay.querySelector(".step-caption")!.textContent = caption;
      return;
    }
    fill(this.replay, button, h("label", { class: "field slider" }, "Step ", slider), h("span", { class: "step-caption" }, caption));
  }

  private renderDetails(): void {
    const view = this.current();
    if (!view) return fill(this.details);
    const slot = this.hoveredSlot ?? this.state.focusedSlot;
    const v = slot === null ? undefined : view.slots[slot];
    if (!v) {
      fill(
        this.details,
        h("h2", {}, "Token"),
        h("p", { class: "hint" }, "Hover over a token, or focus one and move with the arrow keys, to see its alternatives and how its confidence grew."),
      );
      return;
    }
    const n = view.steps.length;
    const title = v.kind === "masked" ? "masked" : v.kind === "pad" ? "pad" : showText(v.text);
    const note = {
      token: null,
      pad: "Filled with pad: not part of the completion.",
      cut: "Cut from the completion when it was shaped (e.g. past the end of the line).",
      masked: "Never unmasked: decoding stopped first.",
    }[v.kind];
    const rows = v.alternatives.map((a) =>
      h(
        "tr",
        { class: a.token === v.token ? "chosen" : null },
        h("td", {}, h("code", {}, a.text === null ? `#${a.token}` : showText(a.text))),
        h("td", { class: "bar-cell" }, h("span", { class: "pbar", style: `width: ${Math.max(1, a.p * 100).toFixed(1)}%` })),
        h("td", { class: "num" }, percent(a.p)),
      ),
    );
    const tau = typeof view.trace.policy.tau === "number" ? view.trace.policy.tau : null;
    fill(
      this.details,
      h("h2", {}, "Token ", h("code", { class: "d-token" }, title)),
      h(
        "p",
        { class: "d-meta" },
        `slot ${v.slot + 1} of ${view.slots.length}` +
          (v.step >= 0
            ? ` · step ${v.step + 1} of ${n} · p ${v.p.toFixed(3)}` +
              (v.score !== null ? ` · filter score ${v.score.toFixed(3)}` : "") +
              ` · entropy ${v.entropy.toFixed(2)}`
            : ""),
      ),
      note && h("p", { class: "d-note" }, note),
      rows.length
        ? h(
            "table",
            { class: "alts", "aria-label": "Top alternatives when it was unmasked" },
            h("thead", {}, h("tr", {}, h("th", {}, "alternative"), h("th", {}), h("th", { class: "num" }, "p"))),
            h("tbody", {}, ...rows),
          )
        : null,
      v.history.length
        ? h(
            "div",
            { class: "d-chart" },
            h("h3", {}, "Confidence while masked"),
            confidenceChart(v.history, n, tau),
            h("p", { class: "hint" }, "Filled: top-1 was this token; hollow: another." + (tau !== null ? " Dashed: τ." : "")),
          )
        : null,
    );
  }

  private renderChart(): void {
    const view = this.current();
    if (!view) return fill(this.chart);
    fill(
      this.chart,
      stepChart(view.steps, this.stepsApplied(view), (k) => {
        this.stop();
        this.setStep(k);
      }),
      h(
        "p",
        { class: "hint" },
        h("span", { class: "key real" }),
        " tokens ",
        h("span", { class: "key pads" }),
        " pads unmasked per step · ",
        h("span", { class: "key line" }),
        " mean p of the slots still masked",
      ),
    );
  }

  private renderStats(): void {
    const view = this.current();
    if (!view) return fill(this.stats);
    const t = view.trace;
    const rows: [string, string][] = [
      ["model", t.model],
      ["policy", policyLabel(t)],
      ["stopped by", String(t.result.stoppedBy)],
      ["slots", String(t.slots)],
      ["forwards", String(t.stats.forwards)],
      ["tokens", String(t.stats.tokens)],
      ["tokens / forward", t.stats.tokensPerForward.toFixed(2)],
      ["ms total", t.stats.msTotal.toFixed(1)],
      ["ms in the model", t.stats.msModel.toFixed(1)],
      ["context tokens", `${t.prefixTokens} before, ${t.suffixTokens} after`],
      [
        "rows reused",
        t.stats.reusedRows
          ? `${t.stats.reusedRows} of ${t.prefixTokens + t.suffixTokens + t.slots}: the first forward took them from the last completion's cache`
          : "none (the first forward computed the whole canvas)",
      ],
      ...(t.plan
        ? ([
            ["plan", `${t.plan.contextTokens} of ${t.plan.contextAvailable} context tokens, ${t.plan.slots} slots, budget ${t.plan.budgetMs} ms`],
            ["planned ms", `${t.plan.expectedMs} (first forward ${t.plan.firstForwardMs})`],
          ] as [string, string][])
        : []),
    ];
    fill(this.stats, h("dl", {}, ...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  }

  private renderCompare(): void {
    const c = this.comparison;
    if (!c && !this.compareError && this.pendingCompare === null) return fill(this.compare);
    const head = h("div", { class: "compare-head" }, h("h2", {}, "Compare policies", c ? ` · ${c.label}` : ""));
    if (c) {
      const close = h("button", { type: "button", class: "link", "aria-label": "Close the comparison" }, "Close");
      close.addEventListener("click", () => {
        this.comparison = null;
        this.compareError = null;
        this.renderCompare();
        this.renderToolbar();
      });
      head.append(close);
    }
    const body: Child[] = [];
    if (this.pendingCompare !== null) body.push(h("p", { class: "hint" }, "Decoding with the other policies…"));
    if (this.compareError) body.push(h("p", { class: "warn" }, `Comparison failed: ${this.compareError}`));
    if (c) {
      const reference = c.traces[0]?.result.text ?? "";
      const grid = h("div", { class: "compare-grid" });
      c.traces.forEach((t, i) => grid.append(this.compareColumn(c, t, i, reference)));
      body.push(grid);
    }
    fill(this.compare, head, ...body);
  }

  private compareColumn(c: Comparison, t: Trace, index: number, reference: string): HTMLElement {
    let view = this.views.get(t);
    if (!view) this.views.set(t, (view = buildTraceView(t)));
    const same = diffAgainst(reference, t.result.text);
    const changed = same.filter((x) => !x).length + Math.max(0, reference.length - same.filter((x) => x).length);
    const pre = h("pre", { class: "code compare-code" });
    let offset = 0;
    for (const v of view.slots) {
      if (v.kind !== "token" || v.keep === 0) continue;
      const el = h("span", { class: "tok token", "data-slot": v.slot, "data-step": v.step + 1, title: this.describe(v, true) });
      el.style.setProperty("--c", this.colourOf(v, view.steps.length));
      const text = v.text.slice(0, v.keep);
      // Runs of characters that differ from the reference are marked.
      let run = "";
      let runSame = true;
      const flush = () => {
        if (run) el.append(runSame ? textWithEols("t", run) : textWithEols("t diff", run));
        run = "";
      };
      for (let k = 0; k < text.length; k++) {
        const isSame = index === 0 || same[offset + k];
        if (isSame !== runSame) flush();
        runSame = isSame;
        run += text[k];
      }
      flush();
      offset += text.length;
      pre.append(el);
    }
    if (!t.result.text) pre.append(h("span", { class: "hint" }, "(empty completion)"));
    const id = `cmp:${c.id}:${index}`;
    const open = h("button", { type: "button", class: "link" }, "Details");
    open.addEventListener("click", () => this.select(id));
    return h(
      "div",
      { class: `compare-col${id === this.state.selectedId ? " selected" : ""}`, "data-policy": t.policy.name },
      h("h3", {}, policyLabel(t), index === 0 ? h("span", { class: "badge" }, "reference") : null),
      h("p", { class: "d-meta" }, `${t.stats.forwards} forwards · ${t.stats.tokensPerForward.toFixed(2)} tokens/forward · ${t.stats.msTotal.toFixed(0)} ms`),
      h(
        "p",
        { class: index === 0 || changed === 0 ? "same" : "differs" },
        index === 0
          ? "the reference text"
          : changed === 0
            ? "same text as the reference"
            : `differs from the reference in ${changed} character${changed === 1 ? "" : "s"}`,
      ),
      pre,
      open,
    );
  }
}

/** A point on a colouring's scale (t in 0..1) as a CSS colour built from theme variables (see visualizer.css). */
export function scaleColour(colouring: Colouring, t: number): string {
  const stops = colouring === "order" ? 5 : 3;
  const x = Math.max(0, Math.min(1, t)) * (stops - 1);
  const i = Math.min(stops - 2, Math.floor(x));
  const f = x - i;
  const name = colouring === "order" ? "--u-order-" : "--u-conf-";
  return `color-mix(in srgb, var(${name}${i}) ${((1 - f) * 100).toFixed(1)}%, var(${name}${i + 1}))`;
}

/** Text in a span, with each line break marked so whitespace-only tokens stay visible. */
function textWithEols(cls: string, text: string): HTMLElement {
  const el = h("span", { class: cls });
  const parts = text.split("\n");
  parts.forEach((part, i) => {
    if (part) el.append(part);
    if (i < parts.length - 1) el.append(h("span", { class: "eol" }, "\n"));
  });
  return el;
}
