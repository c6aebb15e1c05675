// Accuracy-vs-RMS plots: the SVG's curve and shading sit where Acc(ε) puts them; the PNG decodes and shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { accuracyPlotScene, accuracyPlotSvg, araFigure, niceCeil, ticks, sceneToSvg, PALETTE } from '../../src/report/plot.js';
import { accuracyPlotPng, svgToPng } from '../../src/report/plot-png.js';

const A = [0, 0.01, 0.02, 0.02, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09];

test('niceCeil and ticks give round axis values', () => {
  assert.equal(niceCeil(0.0734), 0.1);
  assert.equal(niceCeil(0.0134), 0.02);
  assert.equal(niceCeil(0.2), 0.2);
  assert.deepEqual(ticks(1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(0.1, 5), [0, 0.02, 0.04, 0.06, 0.08, 0.1]);
});

test('scene: step curve through (ε, Acc(ε)), area above chance shaded down to 1/K', () => {
  const sc = accuracyPlotScene([{ label: 'a', distances: A, color: '#ff0000' }], { numClasses: 10, xMax: 0.1, width: 500, height: 400 });
  // Plot box: left 64, right 30, top 20, bottom 54 → x = 64 + ε/0.1·406, y = 20 + (1 − acc)·326.
  const X = (e: number): number => 64 + (e / 0.1) * 406, Y = (a: number): number => 20 + (1 - a) * 326;
  const curve = sc.shapes.find((s) => s.kind === 'polyline' && s.color === '#ff0000');
  assert.ok(curve && curve.kind === 'polyline');
  const near = (p: [number, number], q: [number, number]): boolean => Math.abs(p[0] - q[0]) < 1e-9 && Math.abs(p[1] - q[1]) < 1e-9;
  // Acc(0) = 0.9 (one image at 0), Acc just after 0.02 = 0.6, Acc(0.09) = 0.
  assert.ok(near(curve.points[0]!, [X(0), Y(0.9)]));
  assert.ok(curve.points.some((p) => near(p, [X(0.02), Y(0.6)])));
  assert.ok(curve.points.some((p) => near(p, [X(0.09), Y(0)])));
  const fill = sc.shapes.filter((s) => s.kind === 'polygon');
  assert.equal(fill.length, 1);
  const ys = fill[0]!.kind === 'polygon' ? fill[0]!.points.map((p) => p[1]) : [];
  assert.ok(Math.abs(Math.max(...ys) - Y(0.1)) < 1e-9, 'shading stops at the chance line');
  assert.ok(Math.abs(Math.min(...ys) - Y(0.9)) < 1e-9);
  // ARA in the legend: exact value of A: 0.01·(0.1+0.2+0.3+0.4) + 0.02·0.5 + 0.01·(0.7+0.8) = 0.035.
  assert.ok(sc.shapes.some((s) => s.kind === 'text' && s.text.includes('ARA 0.0350')), 'legend shows the exact ARA');
});

test('SVG is one well-formed document; text is escaped', () => {
  const svg = accuracyPlotSvg([{ label: 'm<1> & "x"', distances: A }, { label: 'b', distances: A.map((v) => v * 2), dashed: true }], { numClasses: 10, title: 'T' });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>\n$/);
  assert.ok(svg.includes('m&lt;1&gt; &amp; &quot;x&quot;'));
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.ok(svg.includes('stroke-dasharray'));
  assert.equal(sceneToSvg({ width: 10, height: 10, background: '#fff', shapes: [] }).split('\n').length, 4);
  assert.throws(() => accuracyPlotSvg([], { numClasses: 10 }), /no curves/);
});

test('PNG decodes at 2× scale with the curve colour and the shading drawn', () => {
  const buf = accuracyPlotPng([{ label: 'a', distances: A, color: '#ff0000' }], { numClasses: 10, xMax: 0.1, width: 500, height: 400 });
  const png = PNG.sync.read(buf);
  assert.equal(png.width, 1000);
  assert.equal(png.height, 800);
  const px = (x: number, y: number): number[] => { const o = (Math.round(y * 2) * png.width + Math.round(x * 2)) * 4; return [png.data[o]!, png.data[o + 1]!, png.data[o + 2]!]; };
  const X = (e: number): number => 64 + (e / 0.1) * 406, Y = (a: number): number => 20 + (1 - a) * 326;
  // On the horizontal segment Acc = 0.6 between ε = 0.02 and 0.04: pure red.
  assert.deepEqual(px(X(0.03), Y(0.6)), [255, 0, 0]);
  // Inside the shaded area (below the curve, above chance): a light red tint, not white.
  const [r, g, b] = px(X(0.03), Y(0.3));
  assert.ok(r! > 240 && g! < 235 && g! > 200 && b! < 235, `tint ${r},${g},${b}`);
  // Below the chance line: white background.
  assert.deepEqual(px(X(0.03), Y(0.05)), [255, 255, 255]);
});

test('PNG text is drawn with a real font: ε, ρ and ≥ each show, as different glyphs (the bitmap font drew "?")', () => {
  const ink = (s: string): { dark: number; data: Buffer } => {
    const png = PNG.sync.read(svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" font-family="Helvetica, Arial, sans-serif"><text x="8" y="30" font-size="28" fill="#000">${s}</text></svg>`, 1));
    let dark = 0;
    for (let i = 0; i < png.width * png.height; i++) if (png.data[i * 4]! < 128) dark++;
    return { dark, data: png.data };
  };
  const glyphs = ['ε', 'ρ', '≥', '?'].map(ink);
  for (const [k, g] of glyphs.entries()) assert.ok(g.dark > 20, `glyph ${k} drew ${g.dark} dark pixels`);
  for (let a = 0; a < glyphs.length; a++) {
    for (let b = a + 1; b < glyphs.length; b++) assert.ok(!glyphs[a]!.data.equals(glyphs[b]!.data), `glyphs ${a} and ${b} look the same`);
  }
});

test('araFigure: one colour per model, Attack solid and BTR dashed, the L2 0.5 marker at 0.5/√(C·H·W)', () => {
  const { series, opts } = araFigure(
    [{ label: 'robust', distances: { attack: A, btr: A } }, { label: 'standard', distances: { attack: A } }],
    { numClasses: 10, imageSize: 3 * 32 * 32, images: '500 held-out images' });
  assert.deepEqual(series.map((s) => [s.label, s.color, s.dashed]), [
    ['robust Attack', PALETTE[0], false], ['robust BTR', PALETTE[0], true], ['standard Attack', PALETTE[1], false]]);
  assert.equal(opts.numClasses, 10);
  assert.equal(opts.title, 'Accuracy vs RMS perturbation (500 held-out images)');
  assert.deepEqual(opts.markers, [{ at: 0.5 / Math.sqrt(3072), label: 'L2 0.5' }]);
  // 1×28×28 X-rays: the same L2 radius is a larger RMS distance.
  assert.equal(araFigure([], { numClasses: 2, imageSize: 784, images: 'x' }).opts.markers![0]!.at, 0.5 / 28);
});
