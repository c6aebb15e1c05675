// Redraws the model card's plot (models/card.svg, docs/img/default-model-ara.png) from models/card-eval.json: the
// default and the standard net's Attack (solid) and BTR (dashed) curves, the figure `advexp eval --plot` draws, without
// re-running either eval. Run from the repository root after the build: node scripts/card-plot.mjs
import fs from 'node:fs';
import { accuracyPlotSvg, araFigure } from '../dist/src/report/plot.js';
import { accuracyPlotPng } from '../dist/src/report/plot-png.js';
import { writeFileAtomic } from '../dist/src/io/atomic.js';

const card = JSON.parse(fs.readFileSync('models/card-eval.json', 'utf8'));
const models = ['default', 'standard'].filter((k) => card[k] !== undefined).map((k) => ({ ...card[k], label: card[k].label ?? k }));
const first = models[0];
if (!Array.isArray(first.image_shape)) throw new Error('models/card-eval.json: the default entry has no image_shape (re-run advexp eval --json)');
const [c, h, w] = first.image_shape;
const { series, opts } = araFigure(models, { numClasses: first.class_names.length, imageSize: c * h * w, images: `${first.n} held-out images` });
writeFileAtomic('models/card.svg', accuracyPlotSvg(series, opts));
writeFileAtomic('docs/img/default-model-ara.png', accuracyPlotPng(series, opts));
console.log('wrote models/card.svg and docs/img/default-model-ara.png');
