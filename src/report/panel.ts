// Explanation panels as PNG, like the paper's figures: a grid of small images enlarged with nearest-neighbour (so
// each 32×32 pixel stays a visible square), each with caption lines under it, optional row labels on the left and
// column titles on top, text from the 5×8 bitmap font of plot-font.ts. The colourings of maps are in colour.ts.
import { PNG } from 'pngjs';
import { glyph, GLYPH_ADVANCE, GLYPH_H } from './plot-font.js';

export interface PanelTile {
  /** RGB planes (CHW), values in [0, 1] (clamped when drawn). */
  rgb: ArrayLike<number>;
  height: number;
  width: number;
  /** Lines of text under the tile (ASCII). */
  caption?: string[];
}

export interface PanelOptions {
  /** Enlargement factor (nearest-neighbour), default 4. */
  scale?: number;
  /** Size of the font's pixels (default 1 up to scale 4, else 2). */
  fontScale?: number;
  title?: string;
  /** Text lines left of each row. */
  rowLabels?: string[][];
  /** One title per column. */
  columnTitles?: string[];
}

type RGB = readonly [number, number, number];
const BG: RGB = [255, 255, 255];
const INK: RGB = [20, 20, 20];
const GAP = 6;

class Canvas {
  readonly px: Uint8Array;
  constructor(readonly w: number, readonly h: number) {
    this.px = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) this.px.set(BG, i * 3);
  }
  set(x: number, y: number, c: RGB): void {
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set(c, (y * this.w + x) * 3);
  }
  text(s: string, x0: number, y0: number, fs: number, c: RGB = INK): void {
    let x = x0;
    for (const ch of s) {
      const cols = glyph(ch);
      cols.forEach((bits, cx) => {
        for (let r = 0; r < GLYPH_H; r++) {
          if (!((bits >> r) & 1)) continue;
          for (let dy = 0; dy < fs; dy++) for (let dx = 0; dx < fs; dx++) this.set(x + cx * fs + dx, y0 + r * fs + dy, c);
        }
      });
      x += GLYPH_ADVANCE * fs;
    }
  }
  tile(t: PanelTile, x0: number, y0: number, scale: number): void {
    const P = t.height * t.width;
    if (t.rgb.length !== 3 * P) throw new Error(`panel: tile has ${t.rgb.length} values, expected 3×${t.height}×${t.width}`);
    for (let y = 0; y < t.height; y++) {
      for (let x = 0; x < t.width; x++) {
        const p = y * t.width + x;
        const c: RGB = [byte(t.rgb[p]!), byte(t.rgb[P + p]!), byte(t.rgb[2 * P + p]!)];
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) this.set(x0 + x * scale + dx, y0 + y * scale + dy, c);
      }
    }
  }
  png(): Buffer {
    const png = new PNG({ width: this.w, height: this.h, colorType: 2, inputHasAlpha: false });
    for (let i = 0; i < this.w * this.h; i++) {
      png.data[i * 4] = this.px[i * 3]!; png.data[i * 4 + 1] = this.px[i * 3 + 1]!; png.data[i * 4 + 2] = this.px[i * 3 + 2]!;
      png.data[i * 4 + 3] = 255;
    }
    return PNG.sync.write(png, { colorType: 2 });
  }
}

const byte = (v: number): number => (Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, v)) * 255) : 0);
const textWidth = (s: string, fs: number): number => (s.length === 0 ? 0 : (s.length * GLYPH_ADVANCE - 1) * fs);

/** Lays out rows of tiles (null = empty cell) and returns the PNG bytes. */
export function renderPanel(rows: readonly (readonly (PanelTile | null)[])[], opts: PanelOptions = {}): Buffer {
  const scale = opts.scale ?? 4;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`panel: scale must be a positive integer, got ${scale}`);
  const fs = opts.fontScale ?? (scale <= 4 ? 1 : 2);
  const lineH = (GLYPH_H + 2) * fs;
  const cols = Math.max(0, ...rows.map((r) => r.length));
  const colW = new Array<number>(cols).fill(0);
  const rowH = rows.map(() => 0);
  const capLines = rows.map(() => 0);
  rows.forEach((r, i) => r.forEach((t, j) => {
    if (t === null) return;
    colW[j] = Math.max(colW[j]!, t.width * scale, ...(t.caption ?? []).map((s) => textWidth(s, fs)));
    rowH[i] = Math.max(rowH[i]!, t.height * scale);
    capLines[i] = Math.max(capLines[i]!, t.caption?.length ?? 0);
  }));
  opts.columnTitles?.forEach((s, j) => { if (j < cols) colW[j] = Math.max(colW[j]!, textWidth(s, fs)); });
  const labelW = Math.max(0, ...(opts.rowLabels ?? []).flat().map((s) => textWidth(s, fs)));
  const left = GAP + (labelW > 0 ? labelW + GAP : 0);
  const titleH = opts.title ? lineH + GAP : 0;
  const headH = opts.columnTitles ? lineH : 0;
  const cellH = rows.map((_, i) => rowH[i]! + capLines[i]! * lineH + 2 * fs);
  const width = left + colW.reduce((a, b) => a + b + GAP, 0);
  const height = GAP + titleH + headH + cellH.reduce((a, b) => a + b + GAP, 0);
  const cv = new Canvas(Math.max(1, width), Math.max(1, height));
  let y = GAP;
  if (opts.title) { cv.text(opts.title, GAP, y, fs); y += titleH; }
  const colX: number[] = [];
  let x = left;
  for (let j = 0; j < cols; j++) { colX.push(x); x += colW[j]! + GAP; }
  if (opts.columnTitles) { opts.columnTitles.forEach((s, j) => { if (j < cols) cv.text(s, colX[j]!, y, fs); }); y += headH; }
  rows.forEach((r, i) => {
    (opts.rowLabels?.[i] ?? []).forEach((s, l) => cv.text(s, GAP, y + l * lineH, fs));
    r.forEach((t, j) => {
      if (t === null) return;
      cv.tile(t, colX[j]!, y, scale);
      (t.caption ?? []).forEach((s, l) => cv.text(s, colX[j]!, y + t.height * scale + 2 * fs + l * lineH, fs));
    });
    y += cellH[i]! + GAP;
  });
  return cv.png();
}
