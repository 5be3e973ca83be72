// The visualizer's HTML document, shared by the webview panel and the standalone page. No vscode here.
import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18).toString('base64url');
}

export interface DocumentParts {
  /** The Content-Security-Policy; always starts from default-src 'none'. */
  csp: string;
  nonce: string;
  /** Either a stylesheet URL or the CSS itself. */
  style: { href: string } | { inline: string };
  /** Either a script URL or the script itself. */
  script: { src: string } | { inline: string };
  /** Markup placed before the script (the standalone page's data). */
  head?: string;
}

export function visualizerDocument({ csp, nonce, style, script, head = '' }: DocumentParts): string {
  const css =
    'href' in style
      ? `<link rel="stylesheet" href="${escapeAttr(style.href)}">`
      : `<style nonce="${nonce}">${style.inline.replace(/<\/style/gi, '<\\/style')}</style>`;
  const js =
    'src' in script
      ? `<script nonce="${nonce}" src="${escapeAttr(script.src)}"></script>`
      : `<script nonce="${nonce}">${script.inline.replace(/<\/script/gi, '<\\/script')}</script>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Unmask: decoding visualizer</title>
${css}
</head>
<body>
<div id="app"></div>
${head}
${js}
</body>
</html>
`;
}

/** JSON that is safe inside a <script type="application/json"> element. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
