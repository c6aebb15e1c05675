// Draws docs/img/default-r44-tradeoff.png: each stage of the default R44's training (issue 17) as a point of
// validation accuracy (the 5,000 held-out images of models/default.split.json) against Attack ARA (the card's 500),
// beside the target (the published robust ResNet-44: 0.67 / 0.0142) and curves of equal accuracy × ARA. The points
// are the measurements models/README.md reports stage by stage (each from an `advexp eval` of that stage's weights);
// they are listed here, not recomputed. Run from the repository root after the build: node scripts/tradeoff-plot.mjs
import { ticks } from '../dist/src/report/plot.js';
import { sceneToPng } from '../dist/src/report/plot-png.js';
import { writeFileAtomic } from '../dist/src/io/atomic.js';

// [label, accuracy on 5,000, Attack ARA (exact) on 500, kind, label side]; kind: 'cycle' (a run's endpoint) or
// 'average' (advexp average); side: where the label goes ('r', 'l', 'b', 'tr': right, left, below, above right).
const STAGES = [
  ['24 ep', 0.6210, 0.0136, 'cycle', 'r'],
  ['36 ep', 0.6178, 0.0142, 'cycle', 'r'],
  ['43 ep (target 1.3)', 0.6546, 0.01388, 'cycle', 'b'],
  ['48 ep (target 1.4)', 0.6442, 0.01405, 'cycle', 'l'],
  ['58 ep', 0.6500, 0.01367, 'cycle', 'r'],
  ['70 ep', 0.6506, 0.01404, 'cycle', 'r'],
  ['82 ep', 0.6584, 0.01390, 'cycle', 'r'],
  ['average of 58, 70, 82', 0.6600, 0.01421, 'average', 'b'],
  ['average of 58, 70, 82, 92', 0.6612, 0.014297, 'average', 'l'],
  ['average of 58, 70, 82, 92, 102', 0.6634, 0.014264, 'average', 'tr'],
];
const TARGET = { accuracy: 0.67, ara: 0.0142 };
// A label's offset from its point and its text anchor, by side.
const LABEL_OFFSET = { r: [9, 4, 'start'], l: [-9, 4, 'end'], b: [0, 18, 'middle'], tr: [6, -10, 'start'] };

const W = 720, H = 480;
const m = { left: 78, right: 30, top: 44, bottom: 56 };
const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
const x0 = 0.60, x1 = 0.70, y0 = 0.0130, y1 = 0.0148;
const X = (a) => m.left + ((a - x0) / (x1 - x0)) * pw;
const Y = (r) => m.top + (1 - (r - y0) / (y1 - y0)) * ph;
const axis = '#333333', grid = '#e6e6e6';
const shapes = [{ kind: 'rect', x: m.left, y: m.top, w: pw, h: ph, fill: '#ffffff' }];

for (const v of ticks(x1 - x0, 5).map((t) => x0 + t)) {
  shapes.push({ kind: 'line', x1: X(v), y1: m.top, x2: X(v), y2: m.top + ph, color: grid, width: 1 });
  shapes.push({ kind: 'text', x: X(v), y: m.top + ph + 18, text: v.toFixed(2), size: 12, color: axis, anchor: 'middle' });
}
for (const v of ticks(y1 - y0, 5).map((t) => y0 + t)) {
  shapes.push({ kind: 'line', x1: m.left, y1: Y(v), x2: m.left + pw, y2: Y(v), color: grid, width: 1 });
  shapes.push({ kind: 'text', x: m.left - 8, y: Y(v) + 4, text: v.toFixed(4), size: 12, color: axis, anchor: 'end' });
}

// Curves of equal accuracy × ARA: the target's, and the level of each of the first and the best stage.
const products = [TARGET.accuracy * TARGET.ara, ...[STAGES[0], STAGES.at(-1)].map((s) => s[1] * s[2])];
products.forEach((p, i) => {
  const pts = [];
  for (let k = 0; k <= 60; k++) {
    const a = x0 + ((x1 - x0) * k) / 60, r = p / a;
    if (r >= y0 && r <= y1) pts.push([X(a), Y(r)]);
  }
  shapes.push({ kind: 'polyline', points: pts, color: i === 0 ? '#d62728' : '#999999', width: 1, dash: [5, 4] });
  const [lx, ly] = pts.at(-1);
  shapes.push({ kind: 'text', x: lx - 14, y: ly - 10, text: `acc × ARA = ${p.toFixed(5)}`, size: 10, color: i === 0 ? '#d62728' : '#777777', anchor: 'end' });
});

// The target region (both targets met) is up and to the right of the target point.
shapes.push({ kind: 'rect', x: X(TARGET.accuracy), y: m.top, w: X(x1) - X(TARGET.accuracy), h: Y(TARGET.ara) - m.top, fill: '#fbe3e3' });
shapes.push({ kind: 'text', x: X(x1) - 6, y: m.top + 16, text: 'both targets met', size: 11, color: '#d62728', anchor: 'end' });

const diamond = (cx, cy, r) => [[cx, cy - r], [cx + r, cy], [cx, cy + r], [cx - r, cy]];
const disc = (cx, cy, r) => Array.from({ length: 16 }, (_, k) => [cx + r * Math.cos((k * Math.PI) / 8), cy + r * Math.sin((k * Math.PI) / 8)]);
for (const [label, a, r, kind, side] of STAGES) {
  const cx = X(a), cy = Y(r);
  shapes.push(kind === 'average'
    ? { kind: 'polygon', points: diamond(cx, cy, 7), fill: '#2ca02c', opacity: 1 }
    : { kind: 'polygon', points: disc(cx, cy, 4.5), fill: '#1f77b4', opacity: 1 });
  const [dx, dy, anchor] = LABEL_OFFSET[side];
  shapes.push({ kind: 'text', x: cx + dx, y: cy + dy, anchor, text: label, size: 11, color: '#222222' });
}
shapes.push({ kind: 'polygon', points: diamond(X(TARGET.accuracy), Y(TARGET.ara), 8), fill: '#d62728', opacity: 1 });
shapes.push({ kind: 'text', x: X(TARGET.accuracy) + 12, y: Y(TARGET.ara) + 20, text: 'target (published robust R44)', size: 11, color: '#d62728', anchor: 'start' });

shapes.push({ kind: 'text', x: m.left + pw / 2, y: H - 14, text: 'validation accuracy (5,000 held-out images)', size: 13, color: axis, anchor: 'middle' });
shapes.push({ kind: 'text', x: 18, y: m.top + ph / 2, text: 'Attack ARA (500 held-out images)', size: 13, color: axis, anchor: 'middle', vertical: true });
shapes.push({ kind: 'text', x: W / 2, y: 26, text: 'Default R44, stage by stage: accuracy against robustness', size: 15, color: '#111111', anchor: 'middle' });
shapes.push({ kind: 'rect', x: m.left, y: m.top, w: pw, h: ph, stroke: axis, strokeWidth: 1 });

const scene = { width: W, height: H, background: '#ffffff', shapes };
writeFileAtomic('docs/img/default-r44-tradeoff.png', sceneToPng(scene));
console.log('wrote docs/img/default-r44-tradeoff.png');
