// PNG plots: the SVG of plot.ts rendered by resvg (@resvg/resvg-js, a prebuilt binary in its npm package) with a
// real font, so every glyph of the labels shows (ε, ρ, ≥, …). The font is DejaVu Sans from Debian's
// fonts-dejavu-core (scripts/setup.sh installs it); elsewhere resvg looks through the system's fonts.
import fs from 'node:fs';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import type { Scene, CurveSeries, PlotOptions } from './plot.js';
import { accuracyPlotScene, sceneToSvg } from './plot.js';

/** DejaVu Sans where Debian puts it (fonts-dejavu-core). */
export const DEJAVU_SANS = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans.ttf', '/usr/share/fonts/dejavu/DejaVuSans.ttf'];

function fontOptions(): NonNullable<ResvgRenderOptions['font']> {
  const file = DEJAVU_SANS.find((f) => fs.existsSync(f));
  // The SVG asks for Helvetica/Arial/sans-serif: every generic family maps to the one font loaded.
  if (file !== undefined) return { loadSystemFonts: false, fontFiles: [file], defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' };
  return { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };
}

/** An SVG document as PNG bytes; scale multiplies its size (2 gives a sharp image on high-DPI screens). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const r = new Resvg(svg, { font: fontOptions(), fitTo: { mode: 'zoom', value: scale }, background: 'white' });
  return r.render().asPng();
}

/** Rasterises a scene through its SVG. */
export function sceneToPng(scene: Scene, scale = 2): Buffer {
  return svgToPng(sceneToSvg(scene), scale);
}

/** An accuracy-vs-RMS plot as PNG bytes. */
export function accuracyPlotPng(series: readonly CurveSeries[], opts: PlotOptions & { scale?: number }): Buffer {
  return sceneToPng(accuracyPlotScene(series, opts), opts.scale ?? 2);
}
