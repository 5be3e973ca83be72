// Two small hand-drawn SVG charts; colours come from CSS classes so they follow the theme.
import { s } from "./dom";
import type { ConfidencePoint, StepView } from "./traceModel";

/**
 * Tokens unmasked per step (bars: real tokens, pads stacked above) and the mean confidence of the
 * slots still masked after it (line, right axis 0–1). `current` is the replay position (steps applied).
 */
export function stepChart(steps: StepView[], current: number, onPick: (stepsApplied: number) => void): SVGSVGElement {
  const n = Math.max(steps.length, 1);
  const bw = Math.max(6, Math.min(28, Math.floor(480 / n)));
  const left = 28;
  const right = 34;
  const top = 10;
  const plotH = 96;
  const W = left + n * bw + right;
  const H = top + plotH + 24;
  const maxCount = Math.max(1, ...steps.map((st) => st.real + st.pads));
  const y = (count: number) => top + plotH - (count / maxCount) * plotH;
  const yp = (p: number) => top + plotH - p * plotH;

  const svg = s("svg", {
    class: "step-chart",
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: "img",
    "aria-label": `Tokens unmasked per step over ${steps.length} steps, and the mean confidence of the still-masked slots`,
  });
  svg.append(
    s("line", { class: "axis", x1: left, x2: left + n * bw, y1: top + plotH, y2: top + plotH }),
    s("text", { class: "tick", x: left - 4, y: top + 8, "text-anchor": "end" }, String(maxCount)),
    s("text", { class: "tick", x: left - 4, y: top + plotH, "text-anchor": "end" }, "0"),
    s("text", { class: "tick", x: left + n * bw + 4, y: top + 8 }, "p 1"),
    s("text", { class: "tick", x: left + n * bw + 4, y: top + plotH }, "0"),
    s("text", { class: "tick", x: left + (n * bw) / 2, y: H - 4, "text-anchor": "middle" }, "step"),
  );
  steps.forEach((st, i) => {
    const x = left + i * bw + 1;
    const g = s("g", { class: `bar${i === current - 1 ? " current" : ""}`, "data-step": i + 1 });
    g.append(
      s(
        "title",
        {},
        `step ${i + 1}: ${st.real} token${st.real === 1 ? "" : "s"}${st.pads ? `, ${st.pads} pad` : ""}` +
          (st.pendingMeanP === null ? "" : `; ${st.pendingCount} still masked, mean p ${st.pendingMeanP.toFixed(2)}`),
      ),
    );
    g.append(s("rect", { class: "hit", x: x - 1, y: top, width: bw, height: plotH }));
    if (st.real) g.append(s("rect", { class: "real", x, y: y(st.real), width: bw - 2, height: top + plotH - y(st.real) }));
    if (st.pads) g.append(s("rect", { class: "pads", x, y: y(st.real + st.pads), width: bw - 2, height: y(st.real) - y(st.real + st.pads) }));
    g.addEventListener("click", () => onPick(i + 1));
    svg.append(g);
  });
  const pts = steps
    .map((st, i) => (st.pendingMeanP === null ? null : `${left + i * bw + bw / 2},${yp(st.pendingMeanP)}`))
    .filter((p): p is string => p !== null);
  if (pts.length) {
    svg.append(s("polyline", { class: "mean-p", points: pts.join(" ") }));
    for (const p of pts) {
      const [cx, cy] = p.split(",");
      svg.append(s("circle", { class: "mean-p-dot", cx, cy, r: 2 }));
    }
  }
  return svg;
}

/**
 * One slot's confidence over the steps while it was masked: its top-1 probability at each step,
 * hollow where that top-1 was not the token it finally got; the last point is the unmasking.
 * `threshold` draws the policy's τ when it has one.
 */
export function confidenceChart(history: ConfidencePoint[], stepCount: number, threshold: number | null): SVGSVGElement {
  const W = 200;
  const H = 64;
  const pad = 6;
  const n = Math.max(stepCount, 1);
  const x = (step: number) => pad + (n === 1 ? (W - 2 * pad) / 2 : (step / (n - 1)) * (W - 2 * pad));
  const y = (p: number) => H - pad - p * (H - 2 * pad);
  const svg = s("svg", {
    class: "conf-chart",
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: "img",
    "aria-label": `Confidence over steps: ${history.map((h) => `step ${h.step + 1} ${h.p.toFixed(2)}`).join(", ")}`,
  });
  svg.append(s("rect", { class: "frame", x: 0.5, y: 0.5, width: W - 1, height: H - 1, rx: 3 }));
  if (threshold !== null) svg.append(s("line", { class: "threshold", x1: pad, x2: W - pad, y1: y(threshold), y2: y(threshold) }));
  if (history.length > 1) svg.append(s("polyline", { class: "line", points: history.map((h) => `${x(h.step)},${y(h.p)}`).join(" ") }));
  history.forEach((h, i) => {
    const last = i === history.length - 1;
    const dot = s("circle", { class: `dot${h.final ? "" : " other"}${last ? " last" : ""}`, cx: x(h.step), cy: y(h.p), r: last ? 3.5 : 2.5 });
    dot.append(s("title", {}, `step ${h.step + 1}: p ${h.p.toFixed(3)}${h.final ? "" : " (a different top-1)"}`));
    svg.append(dot);
  });
  return svg;
}
