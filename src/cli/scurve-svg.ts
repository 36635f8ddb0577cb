import { sCurve } from '../params/scurve';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** An SVG plot of S-curves: collision probability against cosine similarity, one line per configuration. */
export function sCurveSvg(configs: { bands: number; rows: number; label?: string }[], threshold?: number): string {
  const width = 640;
  const height = 400;
  const left = 60;
  const right = 170;
  const top = 30;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const x = (s: number) => left + ((s + 1) / 2) * plotW; // cosine -1 .. 1
  const y = (p: number) => top + (1 - p) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left + plotW / 2}" y="18" text-anchor="middle" font-size="14">Probability of sharing a bucket (S-curve)</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const p = i / 4;
    parts.push(`<line x1="${left}" y1="${y(p)}" x2="${left + plotW}" y2="${y(p)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${y(p) + 4}" text-anchor="end">${p.toFixed(2)}</text>`);
  }
  for (let i = 0; i <= 8; i++) {
    const s = -1 + i / 4;
    parts.push(`<line x1="${x(s)}" y1="${top}" x2="${x(s)}" y2="${top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${x(s)}" y="${top + plotH + 16}" text-anchor="middle">${s.toFixed(2)}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">cosine similarity</text>`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  if (threshold !== undefined) {
    parts.push(`<line x1="${x(threshold)}" y1="${top}" x2="${x(threshold)}" y2="${top + plotH}" stroke="#555" stroke-dasharray="4 4"/>`);
    parts.push(`<text x="${x(threshold) + 4}" y="${top + 14}">threshold ${threshold}</text>`);
  }
  configs.forEach((c, i) => {
    const points: string[] = [];
    for (let j = 0; j <= 200; j++) {
      const s = -1 + j / 100;
      points.push(`${x(s).toFixed(1)},${y(sCurve(s, c.bands, c.rows)).toFixed(1)}`);
    }
    const color = COLORS[i % COLORS.length];
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
    const ly = top + 10 + i * 18;
    parts.push(`<line x1="${left + plotW + 12}" y1="${ly}" x2="${left + plotW + 32}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${left + plotW + 38}" y="${ly + 4}">${c.bands} x ${c.rows}${c.label ? ` ${c.label}` : ''}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
