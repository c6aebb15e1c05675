// Redraws the model card's plot (models/card.svg, docs/img/default-model-ara.png) from models/card-eval.json: the
// default and the standard net's Attack (solid) and BTR (dashed) curves, as `advexp eval --plot` draws them, without
// re-running either eval. Run from the repository root after the build: node scripts/card-plot.mjs
import fs from 'node:fs';
import { accuracyPlotSvg, PALETTE } from '../dist/src/report/plot.js';
import { accuracyPlotPng } from '../dist/src/report/plot-png.js';
import { writeFileAtomic } from '../dist/src/io/atomic.js';

const card = JSON.parse(fs.readFileSync('models/card-eval.json', 'utf8'));
const series = [];
['default', 'standard'].forEach((key, i) => {
  const m = card[key];
  for (const type of ['attack', 'btr']) {
    series.push({ label: `${m.label ?? key} ${type === 'attack' ? 'Attack' : 'BTR'}`, distances: m.distances[type], color: PALETTE[i], dashed: type === 'btr' });
  }
});
const opts = { numClasses: 10, title: `Accuracy vs RMS perturbation (${card.default.n} held-out images)`, markers: [{ at: 0.5 / Math.sqrt(3 * 32 * 32), label: 'L2 0.5' }] };
writeFileAtomic('models/card.svg', accuracyPlotSvg(series, opts));
writeFileAtomic('docs/img/default-model-ara.png', accuracyPlotPng(series, opts));
console.log('wrote models/card.svg and docs/img/default-model-ara.png');
