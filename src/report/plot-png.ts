// Rasterises a plot scene (plot.ts) to PNG with pngjs: anti-aliased thick lines (distance to segment), filled
// polygons with alpha (even-odd scanline, 4× vertical supersampling), and text from a 5×8 bitmap font.
import { PNG } from 'pngjs';
import type { Scene, CurveSeries, PlotOptions } from './plot.js';
import { accuracyPlotScene } from './plot.js';
import { glyph, GLYPH_ADVANCE, GLYPH_H } from './plot-font.js';

type RGB = [number, number, number];

export function parseColor(c: string): RGB {
  const m = /^#([0-9a-f]{6})$/i.exec(c) ?? /^#([0-9a-f]{3})$/i.exec(c);
  if (m === null) throw new Error(`plot: unsupported colour '${c}' (use #rrggbb)`);
  const h = m[1]!.length === 3 ? m[1]!.split('').map((d) => d + d).join('') : m[1]!;
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

class Canvas {
  readonly data: Float32Array;
  constructor(readonly w: number, readonly h: number, bg: RGB) {
    this.data = new Float32Array(w * h * 3);
    for (let i = 0; i < w * h; i++) { this.data[i * 3] = bg[0]; this.data[i * 3 + 1] = bg[1]; this.data[i * 3 + 2] = bg[2]; }
  }
  blend(x: number, y: number, c: RGB, a: number): void {
    if (x < 0 || y < 0 || x >= this.w || y >= this.h || !(a > 0)) return;
    const o = (y * this.w + x) * 3;
    const k = Math.min(1, a);
    for (let j = 0; j < 3; j++) this.data[o + j] = this.data[o + j]! * (1 - k) + c[j]! * k;
  }
  toPng(): Buffer {
    const png = new PNG({ width: this.w, height: this.h, colorType: 2, inputHasAlpha: false });
    for (let i = 0; i < this.w * this.h; i++) {
      for (let j = 0; j < 3; j++) png.data[i * 4 + j] = Math.max(0, Math.min(255, Math.round(this.data[i * 3 + j]!)));
      png.data[i * 4 + 3] = 255;
    }
    return PNG.sync.write(png, { colorType: 2 });
  }
}

function segment(cv: Canvas, x1: number, y1: number, x2: number, y2: number, c: RGB, width: number): void {
  const r = width / 2;
  const minX = Math.floor(Math.min(x1, x2) - r - 1), maxX = Math.ceil(Math.max(x1, x2) + r + 1);
  const minY = Math.floor(Math.min(y1, y2) - r - 1), maxY = Math.ceil(Math.max(y1, y2) + r + 1);
  const dx = x2 - x1, dy = y2 - y1, len2 = dx * dx + dy * dy;
  for (let y = Math.max(0, minY); y <= Math.min(cv.h - 1, maxY); y++) {
    for (let x = Math.max(0, minX); x <= Math.min(cv.w - 1, maxX); x++) {
      const px = x + 0.5, py = y + 0.5;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - x1) * dx + (py - y1) * dy) / len2));
      const d = Math.hypot(px - (x1 + t * dx), py - (y1 + t * dy));
      const cover = Math.max(0, Math.min(1, r + 0.5 - d));
      if (cover > 0) cv.blend(x, y, c, cover);
    }
  }
}

function polyline(cv: Canvas, pts: [number, number][], c: RGB, width: number, dash?: number[]): void {
  if (!dash || dash.length === 0) {
    for (let i = 1; i < pts.length; i++) segment(cv, pts[i - 1]![0], pts[i - 1]![1], pts[i]![0], pts[i]![1], c, width);
    return;
  }
  // Dashes continue across vertices.
  let di = 0, left = dash[0]!, on = true;
  for (let i = 1; i < pts.length; i++) {
    let [x, y] = pts[i - 1]!;
    const [x2, y2] = pts[i]!;
    let rest = Math.hypot(x2 - x, y2 - y);
    const ux = rest === 0 ? 0 : (x2 - x) / rest, uy = rest === 0 ? 0 : (y2 - y) / rest;
    while (rest > 1e-9) {
      const step = Math.min(left, rest);
      const nx = x + ux * step, ny = y + uy * step;
      if (on) segment(cv, x, y, nx, ny, c, width);
      x = nx; y = ny; rest -= step; left -= step;
      if (left <= 1e-9) { di = (di + 1) % dash.length; left = dash[di]!; on = !on; }
    }
  }
}

function polygon(cv: Canvas, pts: [number, number][], c: RGB, alpha: number): void {
  const sub = 4;
  const ys = pts.map((p) => p[1]);
  const y0 = Math.max(0, Math.floor(Math.min(...ys))), y1 = Math.min(cv.h - 1, Math.ceil(Math.max(...ys)));
  for (let y = y0; y <= y1; y++) {
    const cover = new Float32Array(cv.w);
    for (let s = 0; s < sub; s++) {
      const sy = y + (s + 0.5) / sub;
      const xs: number[] = [];
      for (let i = 0; i < pts.length; i++) {
        const [ax, ay] = pts[i]!, [bx, by] = pts[(i + 1) % pts.length]!;
        if ((ay <= sy && by > sy) || (by <= sy && ay > sy)) xs.push(ax + ((sy - ay) / (by - ay)) * (bx - ax));
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const a = xs[k]!, b = xs[k + 1]!;
        for (let x = Math.max(0, Math.floor(a)); x <= Math.min(cv.w - 1, Math.ceil(b)); x++) {
          const ov = Math.max(0, Math.min(x + 1, b) - Math.max(x, a));
          cover[x]! += ov / sub;
        }
      }
    }
    for (let x = 0; x < cv.w; x++) if (cover[x]! > 0) cv.blend(x, y, c, alpha * Math.min(1, cover[x]!));
  }
}

/** Opaque axis-aligned rectangle with fractional edges (coverage-weighted). */
function fillRect(cv: Canvas, x0: number, y0: number, x1: number, y1: number, c: RGB): void {
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(cv.h, Math.ceil(y1)); y++) {
    const cy = Math.min(y + 1, y1) - Math.max(y, y0);
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(cv.w, Math.ceil(x1)); x++) {
      cv.blend(x, y, c, cy * (Math.min(x + 1, x1) - Math.max(x, x0)));
    }
  }
}

function text(cv: Canvas, s: string, x: number, y: number, size: number, c: RGB, anchor: 'start' | 'middle' | 'end', vertical: boolean): void {
  const k = Math.max(1, Math.round(size / 9));
  const width = s.length * GLYPH_ADVANCE * k - k;
  const shift = anchor === 'start' ? 0 : anchor === 'middle' ? -width / 2 : -width;
  // (x, y) is the baseline as in SVG; the font's baseline is row 7 (descenders use row 7).
  for (let i = 0; i < s.length; i++) {
    const cols = glyph(s[i]!);
    for (let col = 0; col < 5; col++) {
      for (let row = 0; row < GLYPH_H; row++) {
        if (!((cols[col]! >> row) & 1)) continue;
        const u = shift + (i * GLYPH_ADVANCE + col) * k, v = (row - 7) * k;
        for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) {
          const px = vertical ? Math.round(x + v + b) : Math.round(x + u + a);
          const py = vertical ? Math.round(y - u - a) : Math.round(y + v + b);
          cv.blend(px, py, c, 1);
        }
      }
    }
  }
}

/** Rasterises a scene; scale multiplies every coordinate (2 gives a sharp image on high-DPI screens). */
export function sceneToPng(scene: Scene, scale = 2): Buffer {
  const cv = new Canvas(Math.round(scene.width * scale), Math.round(scene.height * scale), parseColor(scene.background));
  const S = (v: number): number => v * scale;
  for (const s of scene.shapes) {
    switch (s.kind) {
      case 'line':
        polyline(cv, [[S(s.x1), S(s.y1)], [S(s.x2), S(s.y2)]], parseColor(s.color), S(s.width), s.dash?.map(S));
        break;
      case 'polyline':
        polyline(cv, s.points.map(([x, y]) => [S(x), S(y)]), parseColor(s.color), S(s.width), s.dash?.map(S));
        break;
      case 'polygon':
        polygon(cv, s.points.map(([x, y]) => [S(x), S(y)]), parseColor(s.fill), s.opacity);
        break;
      case 'rect': {
        const p: [number, number][] = [[S(s.x), S(s.y)], [S(s.x + s.w), S(s.y)], [S(s.x + s.w), S(s.y + s.h)], [S(s.x), S(s.y + s.h)]];
        if (s.fill) fillRect(cv, S(s.x), S(s.y), S(s.x + s.w), S(s.y + s.h), parseColor(s.fill));
        if (s.stroke) polyline(cv, [...p, p[0]!], parseColor(s.stroke), S(s.strokeWidth ?? 1));
        break;
      }
      case 'text':
        text(cv, s.text, S(s.x), S(s.y), S(s.size), parseColor(s.color), s.anchor, s.vertical === true);
        break;
    }
  }
  return cv.toPng();
}

/** An accuracy-vs-RMS plot as PNG bytes. */
export function accuracyPlotPng(series: readonly CurveSeries[], opts: PlotOptions & { scale?: number }): Buffer {
  return sceneToPng(accuracyPlotScene(series, opts), opts.scale ?? 2);
}
