// Opens the decoding visualizer panel (src/visualizer) on the completions so far, with policy comparison
// decoded by the loaded model.
import { decodeWithPolicies } from '../visualizer/compare';
import { VisualizerPanel } from './visualizerPanel';
import type { Context } from './context';
import type { Trace } from '../protocol';

export function showVisualizer(ctx: Context): VisualizerPanel {
  return VisualizerPanel.show(ctx.extension, { history: ctx.history, compare: (trace) => compareAll(ctx, trace) });
}

/** On the 'compare' channel: inline completions typed meanwhile do not abort it; `signal` does. */
function compareAll(ctx: Context, trace: Trace, signal = new AbortController().signal): Promise<Trace[]> {
  return decodeWithPolicies(trace, (request) => ctx.model.complete(request, signal, 'compare'));
}

/** Decodes the last completion's infill again with every policy and shows them side by side. */
export async function compareLast(ctx: Context, signal?: AbortSignal): Promise<void> {
  const last = ctx.history.last;
  if (!last) return;
  const traces = await compareAll(ctx, last.trace, signal);
  showVisualizer(ctx).showComparison(traces, last.label);
}
