// The visualizer as one self-contained HTML file (no VS Code, no network): the built webview
// bundle and its CSS inlined, the traces embedded as JSON. Used by `npm run complete -- --html OUT`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Trace } from '../protocol';
import { STANDALONE_DATA_ID, type StandalonePayload } from '../shared/visualizerMessages';
import { describeTrace } from './describe';
import { jsonForScript, makeNonce, visualizerDocument } from './html';

/** Where `node esbuild.js` puts the webview bundle, from this file in src/ or from the bundle in dist/. */
const BUNDLE_CANDIDATES = [join(__dirname, 'media'), join(__dirname, '..', '..', 'dist', 'media')];

/** The folder of the built webview bundle (visualizer.js and .css), or undefined when it is not built. */
export function visualizerBundleDir(): string | undefined {
  return BUNDLE_CANDIDATES.find((d) => existsSync(join(d, 'visualizer.js')) && existsSync(join(d, 'visualizer.css')));
}

function bundleDir(): string {
  const candidates = BUNDLE_CANDIDATES;
  const dir = visualizerBundleDir();
  if (!dir)
    throw new Error(`the visualizer bundle is not built: expected visualizer.js and visualizer.css in ${candidates.join(' or ')}; run \`npm run build\``);
  return dir;
}

/**
 * One trace, or several decodings of the same infill (the first is the reference of the comparison),
 * as a standalone HTML page.
 */
export function renderStandaloneHtml(trace: Trace | Trace[]): string {
  const traces = Array.isArray(trace) ? trace : [trace];
  if (!traces.length) throw new Error('renderStandaloneHtml: no trace to show');
  const dir = bundleDir();
  const time = Date.now();
  const payload: StandalonePayload = {
    entries: traces.map((t, i) => ({ id: `trace-${i + 1}`, label: describeTrace(t), time, trace: t })),
    comparison: traces.length > 1 ? { id: 'standalone', label: `${traces.length} policies`, traces } : null,
    selectedId: 'trace-1',
  };
  const nonce = makeNonce();
  return visualizerDocument({
    csp: `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src data:`,
    nonce,
    style: { inline: readFileSync(join(dir, 'visualizer.css'), 'utf8').replace(/\/\*# sourceMappingURL=.*?\*\//g, '') },
    script: { inline: readFileSync(join(dir, 'visualizer.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '') },
    head: `<script type="application/json" id="${STANDALONE_DATA_ID}">${jsonForScript(payload)}</script>`,
  });
}
