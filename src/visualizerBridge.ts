// Opens the decoding visualizer panel (src/visualizer) on the completions so far, with policy comparison
// decoded by the loaded model.
import { decodeWithPolicies } from './visualizer/compare';
import { VisualizerPanel } from './visualizer/panel';
import type { Context } from './context';

export function showVisualizer(ctx: Context): void {
  VisualizerPanel.show(ctx.extension, {
    history: ctx.history,
    compare: (trace) => decodeWithPolicies(trace, (request) => ctx.model.complete(request, new AbortController().signal)),
  });
}
