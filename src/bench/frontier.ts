// The speed/quality frontier as a standalone SVG: tokens per forward (x) against exact match (y),
// one line per policy family, `sequential` marked.

export interface PlotPoint {
  label: string;
  family: string;
  tpf: number;
  exactMatch: number;
  nonEmpty: number;
}

const COLORS = ['#1b6ac9', '#d1495b', '#2a9d8f', '#e9a23b', '#7b4fa0', '#5c7a29', '#c05299', '#3d5a80'];
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function frontierSvg(points: readonly PlotPoint[], title: string): string {
  const W = 720,
    H = 440,
    L = 64,
    R = 190,
    T = 40,
    B = 52;
  const maxX = Math.max(1.5, ...points.map((p) => p.tpf)) * 1.08;
  const ys = points.map((p) => p.exactMatch * 100);
  const maxY = Math.max(5, ...ys) * 1.15;
  const x = (v: number) => L + (v / maxX) * (W - L - R);
  const y = (v: number) => H - B - (v / maxY) * (H - T - B);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 14}" text-anchor="middle">tokens per forward</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">exact match (%)</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const vx = (maxX / 5) * i,
      vy = (maxY / 5) * i;
    out.push(`<text x="${x(vx)}" y="${H - B + 16}" text-anchor="middle">${vx.toFixed(1)}</text>`);
    out.push(`<text x="${L - 6}" y="${y(vy) + 4}" text-anchor="end">${vy.toFixed(1)}</text>`);
    out.push(`<line x1="${L}" y1="${y(vy)}" x2="${W - R}" y2="${y(vy)}" stroke="#eee"/>`);
  }
  const families = [...new Set(points.map((p) => p.family))];
  families.forEach((family, i) => {
    const color = family === 'sequential' ? '#000' : COLORS[i % COLORS.length];
    const pts = points.filter((p) => p.family === family).sort((a, b) => a.tpf - b.tpf);
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p.tpf)},${y(p.exactMatch * 100)}`).join(' ')}"/>`);
    }
    for (const p of pts) {
      const tip = `<title>${esc(p.label)}: ${p.tpf.toFixed(2)} tokens/forward, exact match ${(p.exactMatch * 100).toFixed(1)}%, non-empty ${(p.nonEmpty * 100).toFixed(1)}%</title>`;
      out.push(
        family === 'sequential'
          ? `<rect x="${x(p.tpf) - 6}" y="${y(p.exactMatch * 100) - 6}" width="12" height="12" fill="#000">${tip}</rect>`
          : `<circle cx="${x(p.tpf)}" cy="${y(p.exactMatch * 100)}" r="4" fill="${color}">${tip}</circle>`,
      );
    }
    const ly = T + 10 + i * 20;
    out.push(
      family === 'sequential'
        ? `<rect x="${W - R + 16}" y="${ly - 6}" width="10" height="10" fill="#000"/>`
        : `<line x1="${W - R + 12}" y1="${ly - 1}" x2="${W - R + 30}" y2="${ly - 1}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${W - R + 36}" y="${ly + 3}">${esc(family)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
