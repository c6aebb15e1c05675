// PNG plots: the SVG of plot.ts rendered by resvg (@resvg/resvg-js, a prebuilt binary in its npm package) with a
// real font, so every glyph of the labels shows (ε, ρ, ≥, …). The fonts are DejaVu Sans and Sans Mono (panels) from
// Debian's fonts-dejavu-core (scripts/setup.sh installs it); elsewhere resvg looks through the system's fonts.
import fs from 'node:fs';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import type { Scene, CurveSeries, PlotOptions } from './plot.js';
import { accuracyPlotScene, sceneToSvg } from './plot.js';

/** Where distributions put DejaVu (Debian: fonts-dejavu-core). */
const DEJAVU_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/TTF', '/usr/share/fonts/dejavu'];
export const DEJAVU_SANS = DEJAVU_DIRS.map((d) => `${d}/DejaVuSans.ttf`);

let fonts: NonNullable<ResvgRenderOptions['font']> | null = null;
function fontOptions(): NonNullable<ResvgRenderOptions['font']> {
  if (fonts !== null) return fonts;
  const dir = DEJAVU_DIRS.find((d) => fs.existsSync(`${d}/DejaVuSans.ttf`));
  // Plots ask for Helvetica/Arial/sans-serif, panels for a monospace: the generic families map to the fonts loaded.
  fonts = dir === undefined
    ? { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }
    : {
      loadSystemFonts: false, fontFiles: [`${dir}/DejaVuSans.ttf`, `${dir}/DejaVuSansMono.ttf`].filter((f) => fs.existsSync(f)),
      defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans', monospaceFamily: 'DejaVu Sans Mono',
    };
  return fonts;
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
