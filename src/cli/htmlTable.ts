// A plain HTML table of a trace's steps: what `--html` writes when the visualizer bundle is not built.
import type { Trace } from '../protocol';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const show = (s: string) => esc(JSON.stringify(s).slice(1, -1));

export function renderStepTable(trace: Trace): string {
  const rows = trace.steps.map((step, i) => {
    const unmasked = step.unmasked.map((u) =>
      `<span title="p ${u.p}, H ${u.entropy}; ${u.alternatives.map(([, p], j) => `${show(u.alternativeTexts[j])} ${p}`).join(', ')}">` +
      `[${u.slot}] <code>${show(u.text)}</code> ${u.p.toFixed(2)}</span>`).join('<br>');
    return `<tr><td>${i + 1}</td><td>${step.ms.toFixed(1)}</td><td>${unmasked}</td><td>${step.pending.length}</td></tr>`;
  }).join('\n');
  const { stats, result } = trace;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Unmask trace: ${esc(trace.model)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px;vertical-align:top}code{background:#eee}</style>
</head><body>
<h1>Unmask trace</h1>
<p>Model <b>${esc(trace.model)}</b>, policy <code>${esc(JSON.stringify(trace.policy))}</code>, ${trace.slots} slots,
${trace.prefixTokens} prefix and ${trace.suffixTokens} suffix tokens.</p>
<p>Result (stopped by ${esc(result.stoppedBy)}): <code>${show(result.text)}</code></p>
<p>${stats.forwards} forwards, ${stats.tokens} tokens, ${stats.tokensPerForward} tokens per forward, ${stats.msTotal} ms (model ${stats.msModel} ms).</p>
<table><thead><tr><th>step</th><th>ms</th><th>unmasked [slot] token p</th><th>still masked</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`;
}
