// Opens the decoding visualizer panel (src/visualizer) on the completions so far, with policy comparison
// decoded by the loaded model.
import { decodeWithPolicies } from './visualizer/compare';
import { VisualizerPanel } from './visualizer/panel';
import type { Context } from './context';
import type { Trace } from './protocol';

export function showVisualizer(ctx: Context): VisualizerPanel {
  return VisualizerPanel.show(ctx.extension, { history: ctx.history, compare: (trace) => compareAll(ctx, trace) });
}

function compareAll(ctx: Context, trace: Trace): Promise<Trace[]> {
  return decodeWithPolicies(trace, (request) => ctx.model.complete(request, new AbortController().signal));
}

/** Decodes the last completion's infill again with every policy and shows them side by side. */
export async function compareLast(ctx: Context): Promise<void> {
  const last = ctx.history.last;
  if (!last) return;
  const traces = await compareAll(ctx, last.trace);
  showVisualizer(ctx).showComparison(traces, last.label);
}
