/*
 * The recall@10 against p95 plot as hand-written SVG: one polyline per lshrs shape (its points are
 * the probes and candidate budgets) and per peer (its points are the ef values), p95 on a log axis.
 */

export interface Series {
  label: string;
  /** lshrs series are drawn solid, peers dashed. */
  kind: 'lshrs' | 'peer';
  /** `tag` is printed beside the point (a candidate budget, an ef); `note` goes in its tooltip. */
  points: { p95: number; recall: number; note: string; tag?: string }[];
}

const COLOURS = ['#1f77b4', '#2ca02c', '#17becf', '#9467bd', '#d62728', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f'];
const W = 760;
const H = 460;
const M = { left: 64, right: 250, top: 36, bottom: 52 };

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number) => (x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(1));

export function recallPlot(title: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter((p) => p.p95 > 0 && Number.isFinite(p.p95));
  const lo = Math.min(...all.map((p) => p.p95), 1);
  const hi = Math.max(...all.map((p) => p.p95), 10);
  const logLo = Math.floor(Math.log10(lo));
  const logHi = Math.ceil(Math.log10(hi));
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const x = (ms: number) => M.left + ((Math.log10(ms) - logLo) / (logHi - logLo)) * plotW;
  const y = (recall: number) => M.top + (1 - recall) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${M.left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  for (let e = logLo; e <= logHi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < 10 ** logLo || v > 10 ** logHi) continue;
      const px = x(v).toFixed(1);
      out.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${M.top + plotH}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      out.push(`<text x="${px}" y="${M.top + plotH + 16}" text-anchor="middle">${fmt(v)}</text>`);
    }
  }
  for (let r = 0; r <= 10; r++) {
    const py = y(r / 10).toFixed(1);
    out.push(`<line x1="${M.left}" y1="${py}" x2="${M.left + plotW}" y2="${py}" stroke="${r === 9 ? '#f99' : '#eee'}"/>`);
    out.push(`<text x="${M.left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${(r / 10).toFixed(1)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${M.left + plotW / 2}" y="${H - 12}" text-anchor="middle">query p95 (ms, log scale), one client</text>`);
  out.push(`<text transform="translate(16 ${M.top + plotH / 2}) rotate(-90)" text-anchor="middle">recall@10</text>`);
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.points.filter((p) => p.p95 > 0 && Number.isFinite(p.p95)).sort((a, b) => a.p95 - b.p95);
    const dash = s.kind === 'peer' ? ' stroke-dasharray="5 3"' : '';
    if (pts.length > 1) {
      const path = pts.map((p) => `${x(p.p95).toFixed(1)},${y(p.recall).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="1.5"${dash}/>`);
    }
    for (const p of pts) {
      const mark =
        s.kind === 'peer'
          ? `<rect x="${(x(p.p95) - 3.5).toFixed(1)}" y="${(y(p.recall) - 3.5).toFixed(1)}" width="7" height="7" fill="${colour}">`
          : `<circle cx="${x(p.p95).toFixed(1)}" cy="${y(p.recall).toFixed(1)}" r="4" fill="${colour}">`;
      out.push(
        `${mark}<title>${escapeXml(`${s.label}, ${p.note}: recall@10 ${p.recall.toFixed(3)}, p95 ${p.p95.toFixed(2)} ms`)}</title>${s.kind === 'peer' ? '</rect>' : '</circle>'}`,
      );
      if (p.tag) {
        out.push(
          `<text x="${(x(p.p95) + 6).toFixed(1)}" y="${(y(p.recall) + (s.kind === 'peer' ? 12 : -6)).toFixed(1)}" font-size="9" fill="${colour}">${escapeXml(p.tag)}</text>`,
        );
      }
    }
    const ly = M.top + 8 + i * 20;
    const lx = M.left + plotW + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle">${escapeXml(s.label)}</text>`);
  });
  const notes = [
    'red line: recall 0.9',
    'circles: lshrs, labelled with probes',
    'per band p / rerankCandidates;',
    'squares: peers, labelled with ef',
  ];
  const notesTop = M.top + 8 + series.length * 20 + 8;
  notes.forEach((line, j) =>
    out.push(`<text x="${M.left + plotW + 14}" y="${notesTop + j * 15}" fill="${j === 0 ? '#c55' : '#555'}" font-size="11">${line}</text>`),
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
