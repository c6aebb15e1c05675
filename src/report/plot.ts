// Accuracy-vs-RMS-perturbation plots (the paper's ARA figure): one step curve Acc(ε) per series, the area above
// chance (1/K) shaded, several models on one plot. The plot is built once as a scene of simple shapes in pixel
// coordinates; plotSvg writes it as SVG and plot-png.ts rasterises the same scene to PNG.
import { accuracyCurve, araExact, ARA_NAMES, ARA_TYPES, type AraType } from '../metrics/ara.js';

export interface CurveSeries {
  /** Legend text. */
  label: string;
  /** Per image: the smallest boundary-crossing RMS perturbation (0 = already across). */
  distances: ArrayLike<number>;
  /** CSS colour; default from the palette by model. */
  color?: string;
  dashed?: boolean;
}

export interface PlotOptions {
  title?: string;
  /** K: chance is 1/K. */
  numClasses: number;
  width?: number;
  height?: number;
  /** Upper end of the x axis; default: a round number above the 98th percentile of every series. */
  xMax?: number;
  /** Vertical reference lines, e.g. RobustBench's L2 0.5 radius as RMS (0.5/√3072). */
  markers?: { at: number; label: string }[];
}

export type Shape =
  | { kind: 'line'; x1: number; y1: number; x2: number; y2: number; color: string; width: number; dash?: number[] }
  | { kind: 'polyline'; points: [number, number][]; color: string; width: number; dash?: number[] }
  | { kind: 'polygon'; points: [number, number][]; fill: string; opacity: number }
  | { kind: 'rect'; x: number; y: number; w: number; h: number; fill?: string; stroke?: string; strokeWidth?: number }
  | { kind: 'text'; x: number; y: number; text: string; size: number; color: string; anchor: 'start' | 'middle' | 'end'; vertical?: boolean };

export interface Scene { width: number; height: number; background: string; shapes: Shape[] }

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** RobustBench's L2 radius ε as an RMS perturbation of images of `imageSize` (C·H·W) values: ε/√(C·H·W). */
export function l2Marker(imageSize: number, eps = 0.5): { at: number; label: string } {
  return { at: eps / Math.sqrt(imageSize), label: `L2 ${eps}` };
}

/** One model's minimal-perturbation distances per ARA type, as `advexp eval` measures and writes them. */
export interface ModelDistances {
  label: string;
  distances: Partial<Record<AraType, ArrayLike<number>>>;
}

/** The ARA figure of `advexp eval --plot` (and the model card): one colour per model, the Attack curve solid, the
 * BTR curve dashed, the L2 0.5 marker, and a title naming the images. */
export function araFigure(models: readonly ModelDistances[], o: { numClasses: number; imageSize: number; images: string }): { series: CurveSeries[]; opts: PlotOptions } {
  const series: CurveSeries[] = [];
  models.forEach((m, i) => {
    for (const type of ARA_TYPES) {
      const d = m.distances[type];
      if (d !== undefined) series.push({ label: `${m.label} ${ARA_NAMES[type]}`, distances: d, color: PALETTE[i % PALETTE.length]!, dashed: type === 'btr' });
    }
  });
  return { series, opts: { numClasses: o.numClasses, title: `Accuracy vs RMS perturbation (${o.images})`, markers: [l2Marker(o.imageSize)] } };
}

/** 1, 2 or 5 × 10^k at or above v. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

/** About `count` round tick values covering [0, max]. */
export function ticks(max: number, count = 5): number[] {
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = 0; v <= max * (1 + 1e-9); v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals + (step / 10 ** Math.floor(Math.log10(step) + 1e-9) === 2.5 ? 1 : 0));
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))]!;
}

/** Builds the scene of an accuracy-vs-RMS-perturbation plot. */
export function accuracyPlotScene(series: readonly CurveSeries[], opts: PlotOptions): Scene {
  if (series.length === 0) throw new Error('plot: no curves to draw');
  const W = opts.width ?? 720, H = opts.height ?? 460;
  const K = opts.numClasses;
  const chance = 1 / K;
  const m = { left: 64, right: 30, top: opts.title ? 40 : 20, bottom: 54 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const xMax = opts.xMax ?? niceCeil(Math.max(1e-6, ...series.map((s) => quantile(Float64Array.from(s.distances).sort(), 0.98) * 1.05)));
  const X = (e: number): number => m.left + (Math.min(e, xMax) / xMax) * pw;
  const Y = (a: number): number => m.top + (1 - a) * ph;
  const shapes: Shape[] = [];
  const axis = '#333333', grid = '#e6e6e6';

  shapes.push({ kind: 'rect', x: m.left, y: m.top, w: pw, h: ph, fill: '#ffffff' });
  const xt = ticks(xMax), yt = ticks(1, 5);
  const xStep = xt.length > 1 ? xt[1]! - xt[0]! : xMax;
  for (const v of xt) {
    shapes.push({ kind: 'line', x1: X(v), y1: m.top, x2: X(v), y2: m.top + ph, color: grid, width: 1 });
    shapes.push({ kind: 'text', x: X(v), y: m.top + ph + 18, text: fmtTick(v, xStep), size: 12, color: axis, anchor: 'middle' });
  }
  for (const v of yt) {
    shapes.push({ kind: 'line', x1: m.left, y1: Y(v), x2: m.left + pw, y2: Y(v), color: grid, width: 1 });
    shapes.push({ kind: 'text', x: m.left - 8, y: Y(v) + 4, text: fmtTick(v, 0.2), size: 12, color: axis, anchor: 'end' });
  }

  const curves = series.map((s, i) => {
    const c = accuracyCurve(s.distances);
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    // Step curve: horizontal at Acc(ε_i) from ε_i to ε_{i+1}, then down.
    const pts: [number, number][] = [];
    for (let k = 0; k < c.eps.length; k++) {
      const e0 = c.eps[k]!, a = c.accuracy[k]!;
      const e1 = k + 1 < c.eps.length ? c.eps[k + 1]! : Math.max(xMax, e0);
      if (e0 > xMax) break;
      pts.push([X(e0), Y(a)], [X(e1), Y(a)]);
    }
    // Shade where Acc(ε) > 1/K, down to the chance line: Acc is non-increasing, so this is one polygon.
    const top: [number, number][] = [];
    for (let k = 0; k < c.eps.length; k++) {
      const a = c.accuracy[k]!;
      if (a <= chance || c.eps[k]! >= xMax) break;
      const e1 = k + 1 < c.eps.length ? c.eps[k + 1]! : xMax;
      top.push([X(c.eps[k]!), Y(a)], [X(e1), Y(a)]);
    }
    const fill: [number, number][][] = top.length === 0 ? [] : [[[top[0]![0], Y(chance)], ...top, [top[top.length - 1]![0], Y(chance)]]];
    return { s, color, pts, fill, ara: araExact(s.distances, K) };
  });
  for (const c of curves) for (const poly of c.fill) shapes.push({ kind: 'polygon', points: poly, fill: c.color, opacity: 0.12 });
  shapes.push({ kind: 'line', x1: m.left, y1: Y(chance), x2: m.left + pw, y2: Y(chance), color: '#777777', width: 1.5, dash: [6, 4] });
  shapes.push({ kind: 'text', x: m.left + pw - 4, y: Y(chance) - 5, text: `chance 1/${K}`, size: 11, color: '#777777', anchor: 'end' });
  for (const mk of opts.markers ?? []) {
    if (!(mk.at > 0 && mk.at < xMax)) continue;
    shapes.push({ kind: 'line', x1: X(mk.at), y1: m.top, x2: X(mk.at), y2: m.top + ph, color: '#999999', width: 1, dash: [2, 3] });
    shapes.push({ kind: 'text', x: X(mk.at) + 4, y: m.top + 14, text: mk.label, size: 11, color: '#777777', anchor: 'start' });
  }
  for (const c of curves) {
    shapes.push({ kind: 'polyline', points: c.pts, color: c.color, width: 2, ...(c.s.dashed ? { dash: [7, 4] } : {}) });
  }
  shapes.push({ kind: 'rect', x: m.left, y: m.top, w: pw, h: ph, stroke: axis, strokeWidth: 1 });

  // Legend, top right inside the plot.
  const lineH = 17;
  const labels = curves.map((c) => `${c.s.label}  ARA ${c.ara.toFixed(4)}`);
  const lw = 34 + Math.max(...labels.map((l) => l.length)) * 6.6;
  const lx = m.left + pw - lw - 8, ly = m.top + 8;
  shapes.push({ kind: 'rect', x: lx, y: ly, w: lw, h: curves.length * lineH + 8, fill: '#ffffff', stroke: '#cccccc', strokeWidth: 1 });
  curves.forEach((c, i) => {
    const y = ly + 4 + lineH * i + lineH / 2;
    shapes.push({ kind: 'line', x1: lx + 6, y1: y, x2: lx + 28, y2: y, color: c.color, width: 2, ...(c.s.dashed ? { dash: [7, 4] } : {}) });
    shapes.push({ kind: 'text', x: lx + 34, y: y + 4, text: labels[i]!, size: 11, color: '#222222', anchor: 'start' });
  });

  shapes.push({ kind: 'text', x: m.left + pw / 2, y: H - 12, text: 'RMS perturbation (pixels in [0, 1])', size: 13, color: axis, anchor: 'middle' });
  shapes.push({ kind: 'text', x: 18, y: m.top + ph / 2, text: 'accuracy', size: 13, color: axis, anchor: 'middle', vertical: true });
  if (opts.title) shapes.push({ kind: 'text', x: W / 2, y: 24, text: opts.title, size: 15, color: '#111111', anchor: 'middle' });
  return { width: W, height: H, background: '#ffffff', shapes };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const n2 = (v: number): string => (Math.round(v * 100) / 100).toString();

/** The scene as an SVG document. */
export function sceneToSvg(scene: Scene): string {
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="${scene.background}"/>`,
  ];
  for (const s of scene.shapes) {
    const dash = 'dash' in s && s.dash ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    switch (s.kind) {
      case 'line':
        out.push(`<line x1="${n2(s.x1)}" y1="${n2(s.y1)}" x2="${n2(s.x2)}" y2="${n2(s.y2)}" stroke="${s.color}" stroke-width="${s.width}"${dash}/>`);
        break;
      case 'polyline':
        out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width}"${dash} stroke-linejoin="miter" points="${s.points.map(([x, y]) => `${n2(x)},${n2(y)}`).join(' ')}"/>`);
        break;
      case 'polygon':
        out.push(`<polygon fill="${s.fill}" fill-opacity="${s.opacity}" stroke="none" points="${s.points.map(([x, y]) => `${n2(x)},${n2(y)}`).join(' ')}"/>`);
        break;
      case 'rect':
        out.push(`<rect x="${n2(s.x)}" y="${n2(s.y)}" width="${n2(s.w)}" height="${n2(s.h)}" fill="${s.fill ?? 'none'}"${s.stroke ? ` stroke="${s.stroke}" stroke-width="${s.strokeWidth ?? 1}"` : ''}/>`);
        break;
      case 'text': {
        const rot = s.vertical ? ` transform="rotate(-90 ${n2(s.x)} ${n2(s.y)})"` : '';
        out.push(`<text x="${n2(s.x)}" y="${n2(s.y)}" font-size="${s.size}" fill="${s.color}" text-anchor="${s.anchor}"${rot}>${esc(s.text)}</text>`);
        break;
      }
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** An accuracy-vs-RMS plot as SVG text. */
export function accuracyPlotSvg(series: readonly CurveSeries[], opts: PlotOptions): string {
  return sceneToSvg(accuracyPlotScene(series, opts));
}
