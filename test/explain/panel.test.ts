// Explanation panels: nearest-neighbour enlargement is exact (each source pixel a scale×scale block), captions are
// drawn under their tile, the colourings stay in range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import { renderPanel } from '../../src/report/panel.js';
import { heatmapRgb, blend, limeRgb, deltaRgb, jet } from '../../src/report/colour.js';

function tile(h: number, w: number, seed: number): Float32Array {
  return Float32Array.from({ length: 3 * h * w }, (_, i) => ((i * 37 + seed * 11) % 256) / 255);
}

test('renderPanel: exact nearest-neighbour blocks, captions under tiles, empty cells allowed', () => {
  const a = tile(4, 5, 1), b = tile(4, 5, 2);
  const png = PNG.sync.read(renderPanel([[{ rgb: a, height: 4, width: 5, caption: ['cat 0.50'] }, null], [null, { rgb: b, height: 4, width: 5 }]], { scale: 3 }));
  // Layout: gap 6, column width max(15, caption ⌈8 · 0.602 · 10⌉ = 49) = 49, row 1 height 12 + 12 caption + 2.
  assert.equal(png.width, 6 + 49 + 6 + 15 + 6);
  const px = (x: number, y: number): number[] => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 5; x++) {
      const want = [0, 1, 2].map((c) => Math.round(a[c * 20 + y * 5 + x]! * 255));
      for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) assert.deepEqual(px(6 + x * 3 + dx, 6 + y * 3 + dy), want, `block (${y}, ${x})`);
    }
  }
  let ink = 0;
  for (let y = 6 + 12; y < 6 + 12 + 14; y++) for (let x = 6; x < 6 + 49; x++) if (px(x, y)[0]! < 128) ink++;
  assert.ok(ink > 30, `caption pixels under the tile: ${ink}`);
  const y2 = 6 + 12 + 12 + 2 + 6;
  assert.deepEqual(px(6 + 49 + 6, y2), [0, 1, 2].map((c) => Math.round(b[c * 20]! * 255)), 'second row, second column');
  assert.deepEqual(px(6, y2), [255, 255, 255], 'empty cell stays background');
  assert.throws(() => renderPanel([[{ rgb: a, height: 5, width: 5 }]]), /3×5×5/);
});

test('renderPanel: a real font, so Greek, symbols and accented class names draw as glyphs (no "?" boxes)', () => {
  const a = tile(4, 5, 1);
  // Ink of a caption, rendered alone under a white tile; '?' is what the old bitmap font drew for all of these.
  const ink = (caption: string): string => {
    const png = PNG.sync.read(renderPanel([[{ rgb: new Float32Array(a.length).fill(1), height: 4, width: 5, caption: [caption] }]], { scale: 3 }));
    return Array.from({ length: png.width * png.height }, (_, i) => (png.data[i * 4]! < 128 ? '1' : '0')).join('');
  };
  const q = ink('?');
  for (const s of ['ρ', 'ε', '≥', 'é']) assert.notEqual(ink(s), q, `${s} draws as '?'`);
  assert.notEqual(ink('ρ'), ink('ε'));
});

test('colourings: jet endpoints, signed maps, blend, LIME wash-out, delta centred on grey', () => {
  assert.deepEqual(jet(0).map((v) => +v.toFixed(3)), [0, 0, 0.5]);
  assert.deepEqual(jet(1).map((v) => +v.toFixed(3)), [0.5, 0, 0]);
  const h = heatmapRgb([-2, 0, 1], 1, 3, true);
  assert.deepEqual(Array.from(h), [0, 1, 1, 0, 1, 0.5, 1, 1, 0.5]);
  assert.ok(heatmapRgb([0, 0], 1, 2).every((v) => v >= 0 && v <= 1), 'all-zero map');
  assert.deepEqual(Array.from(blend([1, 0], [0, 1], 0.25)), [0.75, 0.25]);
  const img = Float32Array.from({ length: 12 }, () => 0.8);
  const l = limeRgb(img, [0, 1, 1, 1], [0], 2, 2);
  assert.deepEqual([l[0], l[4], l[8]], [0.8, 0.8, 0.8].map(Math.fround), 'a kept superpixel as it is');
  assert.ok(Math.abs(l[3]! - (0.25 * 0.8 + 0.7)) < 1e-6, 'other superpixels washed out');
  assert.deepEqual(Array.from(deltaRgb([0.1, -0.05, 0])), [1, 0.25, 0.5]);
});
