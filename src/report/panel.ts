// Explanation panels as PNG, like the paper's figures: a grid of small images enlarged with nearest-neighbour (so
// each 32×32 pixel stays a visible square), each with caption lines under it, optional row labels on the left and
// column titles on top. Drawn as an SVG (tiles as embedded PNGs, text in DejaVu Sans Mono, so class names and
// symbols in any script show) and rendered by resvg (plot-png.ts). The colourings of maps are in colour.ts.
import { PNG } from 'pngjs';
import { escapeHtml } from './html.js';
import { svgToPng } from './plot-png.js';

export interface PanelTile {
  /** RGB planes (CHW), values in [0, 1] (clamped when drawn). */
  rgb: ArrayLike<number>;
  height: number;
  width: number;
  /** Lines of text under the tile. */
  caption?: string[];
}

export interface PanelOptions {
  /** Enlargement factor (nearest-neighbour), default 4. */
  scale?: number;
  /** Text size factor (default 1 up to scale 4, else 2): 10 px type on 12 px lines. */
  fontScale?: number;
  title?: string;
  /** Text lines left of each row. */
  rowLabels?: string[][];
  /** One title per column. */
  columnTitles?: string[];
}

const GAP = 6;
const FONT_PX = 10;
/** DejaVu Sans Mono's advance, in ems (every glyph the same). */
const MONO_ADVANCE = 0.602;

const byte = (v: number): number => (Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0);
const textWidth = (s: string, size: number): number => Math.ceil([...s].length * MONO_ADVANCE * size);

/** A tile's pixels as a PNG data: URL, at its own size (the SVG enlarges it without smoothing). */
function tileUrl(t: PanelTile): string {
  const P = t.height * t.width;
  if (t.rgb.length !== 3 * P) throw new Error(`panel: tile has ${t.rgb.length} values, expected 3×${t.height}×${t.width}`);
  const png = new PNG({ width: t.width, height: t.height });
  for (let p = 0; p < P; p++) {
    png.data[p * 4] = byte(t.rgb[p]!); png.data[p * 4 + 1] = byte(t.rgb[P + p]!); png.data[p * 4 + 2] = byte(t.rgb[2 * P + p]!);
    png.data[p * 4 + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

/** Lays out rows of tiles (null = empty cell) and returns the PNG bytes. */
export function renderPanel(rows: readonly (readonly (PanelTile | null)[])[], opts: PanelOptions = {}): Buffer {
  const scale = opts.scale ?? 4;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`panel: scale must be a positive integer, got ${scale}`);
  const fs = opts.fontScale ?? (scale <= 4 ? 1 : 2);
  const size = FONT_PX * fs;
  const lineH = (FONT_PX + 2) * fs;
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const colW = new Array<number>(cols).fill(0);
  const rowH = rows.map(() => 0);
  const capLines = rows.map(() => 0);
  rows.forEach((r, i) => r.forEach((t, j) => {
    if (t === null) return;
    colW[j] = Math.max(colW[j]!, t.width * scale, ...(t.caption ?? []).map((s) => textWidth(s, size)));
    rowH[i] = Math.max(rowH[i]!, t.height * scale);
    capLines[i] = Math.max(capLines[i]!, t.caption?.length ?? 0);
  }));
  opts.columnTitles?.forEach((s, j) => { if (j < cols) colW[j] = Math.max(colW[j]!, textWidth(s, size)); });
  const labelW = Math.max(0, ...(opts.rowLabels ?? []).flat().map((s) => textWidth(s, size)));
  const left = GAP + (labelW > 0 ? labelW + GAP : 0);
  const titleH = opts.title ? lineH + GAP : 0;
  const headH = opts.columnTitles ? lineH : 0;
  const cellH = rows.map((_, i) => rowH[i]! + capLines[i]! * lineH + 2 * fs);
  const width = Math.max(1, left + colW.reduce((a, b) => a + b + GAP, 0));
  const height = Math.max(1, GAP + titleH + headH + cellH.reduce((a, b) => a + b + GAP, 0));
  const out: string[] = [];
  // A line of text whose box starts at (x, y): the baseline sits at the font's ascent, 0.8 em.
  const text = (s: string, x: number, y: number): void => {
    out.push(`<text x="${x}" y="${y + Math.round(0.8 * size)}">${escapeHtml(s)}</text>`);
  };
  let y = GAP;
  if (opts.title) { text(opts.title, GAP, y); y += titleH; }
  const colX: number[] = [];
  let x = left;
  for (let j = 0; j < cols; j++) { colX.push(x); x += colW[j]! + GAP; }
  if (opts.columnTitles) { opts.columnTitles.forEach((s, j) => { if (j < cols) text(s, colX[j]!, y); }); y += headH; }
  rows.forEach((r, i) => {
    (opts.rowLabels?.[i] ?? []).forEach((s, l) => text(s, GAP, y + l * lineH));
    r.forEach((t, j) => {
      if (t === null) return;
      out.push(`<image x="${colX[j]}" y="${y}" width="${t.width * scale}" height="${t.height * scale}" image-rendering="optimizeSpeed" href="${tileUrl(t)}"/>`);
      (t.caption ?? []).forEach((s, l) => text(s, colX[j]!, y + t.height * scale + 2 * fs + l * lineH));
    });
    y += cellH[i]! + GAP;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans Mono, monospace" font-size="${size}" fill="#141414">`
    + `<rect width="${width}" height="${height}" fill="#fff"/>${out.join('')}</svg>`;
  return svgToPng(svg, 1);
}
