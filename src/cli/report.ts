// advexp report: the first run. In about two minutes on two cores, one self-contained HTML file (images inline)
// that shows what the method buys: accuracy on held-out images, a quick accuracy-vs-perturbation curve (a smaller
// step budget than ARA's, labelled so) beside the model card's full-budget curves, and adversarial explanations with
// Grad-CAM beside them, for the robust model and a standard net of the same shape.
import fs from 'node:fs';
import path from 'node:path';
import { parse, intArg, numArg } from './args.js';
import { openModel, applyThreads, checkOutput, writeIntoOutDir, packageRoot, modelLabels, classCount, defaultModelPath, withLayerErrors } from './common.js';
import { UserError, asUserError } from './errors.js';
import { tensor, tidy } from '../engine/index.js';
import { heldOutImages } from '../data/select.js';
import type { ImageDataset } from '../data/dataset.js';
import { predict, accuracy } from '../metrics/predict.js';
import { araDistances, araExact } from '../metrics/ara.js';
import { AttackGuardError } from '../attack/paper.js';
import { explain, probabilities, argmaxExcept } from '../explain/index.js';
import { accuracyPlotSvg, l2Marker, PALETTE, type CurveSeries } from '../report/plot.js';
import { renderPanel, type PanelTile } from '../report/panel.js';
import { heatmapRgb, blend } from '../report/colour.js';
import { reportHtml, type HtmlBlock } from '../report/html.js';
import { writeFileAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';
import { defaultClassNames, type LoadedModel } from '../io/model-file.js';

/** The shipped standard (non-robust) net of the default model's shape, the report's comparison. */
export const standardModelPath = (): string => path.join(packageRoot(), 'models', 'standard-r44.safetensors');
const cardPath = (): string => path.join(packageRoot(), 'models', 'card-eval.json');
const defaultSplit = (): string => path.join(packageRoot(), 'models', 'default.split.json');
/** Where the repository's README keeps the data: ../shared beside the clone. */
const defaultData = (): string => path.join(packageRoot(), '..', 'shared', 'data', 'cifar10');

const HELP = `usage: advexp report [--model FILE] [--out DIR] [options]
A first look in about two minutes (2 cores): writes DIR/report.html, one self-contained file (images inline, no
network) with the model's accuracy on held-out images, a quick accuracy-vs-RMS-perturbation curve (Attack ARA with a
smaller step budget, labelled) beside the model card's full-budget curves, and adversarial explanations with
Grad-CAM beside them, for the model and the shipped standard ResNet-44 of the same shape.

  --model FILE       the model to report on (default: the shipped robust model, models/default.safetensors)
  --compare FILE     the net to compare with (default: models/standard-r44.safetensors; none: no comparison)
  --data PATH        the images the split indexes: CIFAR-10 training batches (a directory of data_batch_*.bin or
                     cifar-10-binary.tar.gz; default ../shared/data/cifar10 beside the package)
  --split FILE       held-out images (split.json of advexp train; default models/default.split.json)
  --acc-n N          images for accuracy (default 1000)
  --n N              images for the quick ARA (default 100)
  --steps T          steps of the quick ARA's attack routine (default 100; the card's is 450)
  --eps E            the routine's budget (default 20)
  --panels K         images with explanations (default 6)
  --rho R            AE budget, RMS (default 0.1)   --ae-steps T   AE steps (default 35)
  --threads T        libtorch threads (default: all cores)
  --out DIR          writes DIR/report.html (default: report)
  --quiet            no progress bar`;

interface ReportArgs {
  model: string | undefined;
  compare: string | null;
  data: string;
  split: string;
  accN: number;
  n: number;
  steps: number;
  eps: number;
  panels: number;
  rho: number;
  aeSteps: number;
  threads: string | undefined;
  out: string;
  quiet: boolean;
}

function readArgs(argv: string[]): ReportArgs | null {
  const { values: v } = parse(argv, {
    model: { type: 'string' }, compare: { type: 'string' }, data: { type: 'string' }, split: { type: 'string' },
    'acc-n': { type: 'string' }, n: { type: 'string' }, steps: { type: 'string' }, eps: { type: 'string' },
    panels: { type: 'string' }, rho: { type: 'string' }, 'ae-steps': { type: 'string' }, threads: { type: 'string' },
    out: { type: 'string' }, quiet: { type: 'boolean' },
  });
  if (v.help) { console.log(HELP); return null; }
  const accN = intArg(v['acc-n'], 'acc-n', 1000, 1);
  const n = intArg(v.n, 'n', 100, 1);
  const panels = intArg(v.panels, 'panels', 6, 0);
  const eps = numArg(v.eps, 'eps', 20);
  if (!(eps > 0)) throw new UserError(`--eps: must be > 0, got '${v.eps}'`);
  const rho = numArg(v.rho, 'rho', 0.1);
  if (!(rho > 0)) throw new UserError(`--rho: must be > 0, got '${v.rho}'`);
  let compare: string | null = v.compare ?? standardModelPath();
  if (compare === 'none') compare = null;
  else if (v.compare === undefined && !fs.existsSync(compare)) {
    console.error(`advexp report: ${compare} is missing: no comparison with a standard net`);
    compare = null;
  }
  const data = v.data ?? defaultData();
  if (v.data === undefined && !fs.existsSync(data)) {
    throw new UserError(`--data PATH is required: ${data} is missing (give the CIFAR-10 training batches the split indexes: a directory of data_batch_*.bin or cifar-10-binary.tar.gz)`);
  }
  return {
    model: v.model, compare, data, split: v.split ?? defaultSplit(), accN, n, steps: intArg(v.steps, 'steps', 100, 1), eps,
    panels, rho, aeSteps: intArg(v['ae-steps'], 'ae-steps', 35, 1), threads: v.threads, out: v.out ?? 'report', quiet: v.quiet === true,
  };
}

interface ModelReport {
  file: string;
  name: string;
  classes: number;
  accuracy: number;
  distances: Float64Array;
  ara: number;
  /** Per panel image: probabilities, Grad-CAM of the predicted class (H·W), the AE toward the second class. */
  probs: Float32Array;
  cam: Float32Array | null;
  ae: { images: Float32Array; target: Int32Array; pBefore: Float32Array; pAfter: Float32Array } | null;
  seconds: number;
}

/** One card entry; `label` names the net in the report (e.g. "default (robust) R44, 24 epochs"). */
interface CardModel { label?: string; model: string; n: number; accuracy: number; ara: { attack?: { exact: number } }; distances: { attack?: number[] }; pgd?: { linf?: { accuracy: number } }; settings?: { steps?: number } }

/** The model card's eval (models/card-eval.json): the default and the standard net at the full budget. */
function readCard(): { default?: CardModel; standard?: CardModel } | null {
  try {
    return JSON.parse(fs.readFileSync(cardPath(), 'utf8')) as { default?: CardModel; standard?: CardModel };
  } catch {
    return null;
  }
}

function reportModel(m: LoadedModel, name: string, set: ImageDataset, accSet: ImageDataset, args: ReportArgs, bar: Progress): ModelReport {
  const { model, file } = m;
  const t0 = performance.now();
  const K = classCount(m, set.shape);
  const bad = set.labels.find((l) => l >= K);
  if (bad !== undefined) throw new UserError(`${args.data}: label ${bad} but ${file} has ${K} classes`);
  const acc = accuracy(predict(model, accSet, { batch: 256 }).classes, accSet.labels);
  const quick = set.subset(Array.from({ length: args.n }, (_, i) => i));
  let distances: Float64Array;
  try {
    distances = araDistances(model, quick, quick.labels, 'attack', { steps: args.steps, eps: args.eps, onStep: (b) => bar.tick(b) }).distances;
  } catch (e) {
    if (e instanceof AttackGuardError) throw new UserError(`${path.basename(file)}: the quick ARA's attack did not cross the boundary for some images within ${Math.floor(args.steps / 2)} steps: raise --steps or --eps`);
    throw e;
  }
  const P = set.height * set.width;
  const out = tidy(() => {
    const k = args.panels;
    if (k === 0) return { probs: new Float32Array(0), cam: null, ae: null };
    const x = tensor(set.floats(0, k), [k, set.channels, set.height, set.width]);
    const probs = probabilities(model, x).data() as Float32Array;
    const pred = Int32Array.from({ length: k }, (_, i) => argmaxExcept(probs.subarray(i * K, (i + 1) * K), -1));
    const second = Int32Array.from({ length: k }, (_, i) => argmaxExcept(probs.subarray(i * K, (i + 1) * K), pred[i]!));
    const cam = withLayerErrors(() => explain(model, x, pred, { method: 'gradcam' }));
    const ae = explain(model, x, second, { method: 'ae', rho: args.rho, steps: args.aeSteps, onStep: (b: number) => bar.tick(b) });
    return {
      probs, cam: Float32Array.from(cam.maps.subarray(0, k * P)),
      ae: { images: ae.details.images, target: second, pBefore: Float32Array.from(ae.pBefore), pAfter: ae.details.pAfter },
    };
  });
  return {
    file, name, classes: K, accuracy: acc, distances, ara: araExact(distances, K), ...out,
    seconds: (performance.now() - t0) / 1000,
  };
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

export function run(argv: string[]): void {
  const args = readArgs(argv);
  if (args === null) return;
  checkOutput(args.out, 'out', 'dir');
  const threads = applyThreads(args.threads);
  const t0 = performance.now();
  const needed = Math.max(args.accN, args.n, args.panels);
  const { set, records } = asUserError(() => heldOutImages(args.split, args.data, needed));
  const accSet = set.subset(Array.from({ length: args.accN }, (_, i) => i));
  if (set.channels !== 3 || set.height !== 32 || set.width !== 32) throw new UserError(`${args.data}: images are ${set.channels}×${set.height}×${set.width}, the report's models take 3×32×32`);

  const files: (string | undefined)[] = [args.model, ...(args.compare !== null ? [args.compare] : [])];
  const bar = new Progress({ label: 'report', total: files.length * (args.n * args.steps + args.panels * args.aeSteps), unit: 'img-step', quiet: args.quiet });
  const reports: ModelReport[] = [];
  // Names that stay apart when the model and --compare are both some run's model.safetensors.
  const labels = modelLabels(files.map((f) => f ?? defaultModelPath()));
  for (const [i, f] of files.entries()) {
    const m = openModel(f);
    try {
      reports.push(reportModel(m, labels[i]!, set, accSet, args, bar));
    } finally {
      m.model.dispose();
    }
  }
  bar.finish();
  const seconds = (performance.now() - t0) / 1000;

  // ---- what the card measured at the full budget ----
  const card = readCard();
  const isDefault = (f: string): boolean => path.resolve(f) === path.resolve(defaultModelPath());
  const cardRows: { name: string; m: CardModel }[] = [];
  if (card?.default !== undefined) cardRows.push({ name: card.default.label ?? 'default (robust)', m: card.default });
  if (card?.standard !== undefined) cardRows.push({ name: card.standard.label ?? 'standard', m: card.standard });
  const K = reports[0]!.classes;

  // ---- plot: quick curves solid, the card's full-budget curves dashed ----
  const series: CurveSeries[] = reports.map((r, i) => ({ label: `${r.name} (quick: ${args.n} img, ${args.steps} steps)`, distances: r.distances, color: PALETTE[i % PALETTE.length]! }));
  cardRows.forEach((c, i) => {
    const d = c.m.distances.attack;
    if (d !== undefined) series.push({ label: `card ${c.name} (${c.m.n} img, ${c.m.settings?.steps ?? 450} steps)`, distances: d, color: PALETTE[i % PALETTE.length]!, dashed: true });
  });
  const plot = accuracyPlotSvg(series, { numClasses: K, title: 'Accuracy vs RMS perturbation (Attack ARA routine)', markers: [l2Marker(set.imageSize)] });

  // ---- panels: image | per model: Grad-CAM (predicted class), AE toward the second class ----
  const P = set.height * set.width;
  const names = defaultClassNames(K, set.classNames);
  const rows: PanelTile[][] = [];
  for (let i = 0; i < args.panels; i++) {
    const img = set.floats(i, i + 1);
    const row: PanelTile[] = [{ rgb: img, height: 32, width: 32, caption: [`true ${names[set.labels[i]!]}`] }];
    for (const r of reports) {
      const p = r.probs.subarray(i * r.classes, (i + 1) * r.classes);
      const pred = argmaxExcept(p, -1);
      if (r.cam !== null) row.push({ rgb: blend(img, heatmapRgb(r.cam.subarray(i * P, (i + 1) * P), 32, 32), 0.5), height: 32, width: 32, caption: [`${names[pred]} ${p[pred]!.toFixed(2)}`] });
      if (r.ae !== null) {
        row.push({ rgb: r.ae.images.subarray(i * 3 * P, (i + 1) * 3 * P), height: 32, width: 32,
          caption: [`to ${names[r.ae.target[i]!]}`, `p ${r.ae.pBefore[i]!.toFixed(2)}->${r.ae.pAfter[i]!.toFixed(2)}`] });
      }
    }
    rows.push(row);
  }
  const columnTitles = ['image', ...reports.flatMap((r) => [`${r.name.slice(0, 14)} CAM`, `${r.name.slice(0, 14)} AE`])];
  const panel = args.panels > 0 ? renderPanel(rows, { scale: 3, columnTitles }) : null;

  // ---- the document ----
  const blocks: HtmlBlock[] = [
    { kind: 'heading', text: 'Accuracy and robustness' },
    {
      kind: 'table',
      head: ['model', `accuracy (${accSet.n} held-out images)`, `quick Attack ARA (${args.n} images, ${args.steps} steps)`, 'full-budget Attack ARA (card, 500 images, 450 steps)', 'PGD L∞ 8/255 accuracy (card)'],
      rows: [
        ...reports.map((r) => {
          // The card measured the shipped default model; other files have no full-budget numbers here.
          const c = isDefault(r.file) ? card?.default : undefined;
          return [r.name, pct(r.accuracy), r.ara.toFixed(4), c?.ara.attack !== undefined ? c.ara.attack.exact.toFixed(4) : '–', c?.pgd?.linf !== undefined ? pct(c.pgd.linf.accuracy) : '–'];
        }),
        ...cardRows.map((c) => [`card: ${c.name}`, `${pct(c.m.accuracy)} (${c.m.n} images)`, '–', c.m.ara.attack !== undefined ? c.m.ara.attack.exact.toFixed(4) : '–', c.m.pgd?.linf !== undefined ? pct(c.m.pgd.linf.accuracy) : '–']),
      ],
      caption: 'ARA: the area between the accuracy-vs-RMS-perturbation curve and chance (higher: more robust). The quick '
        + `value uses the paper's attack routine with ${args.steps} steps instead of 450 on ${args.n} images: a coarser, `
        + 'slightly larger estimate of each distance, for a first look; the card rows are the full budget (models/README.md).',
    },
    {
      kind: 'image', mime: 'image/svg+xml', data: plot, alt: 'accuracy vs RMS perturbation', width: 720,
      caption: 'Solid: this run\'s quick curves. Dashed: the model card\'s full-budget curves (the shipped default and standard nets, 500 held-out images). '
        + 'A robust net keeps its accuracy up to larger perturbations; the standard net falls to chance almost at once.',
    },
  ];
  if (panel !== null) {
    blocks.push(
      { kind: 'heading', text: 'Explanations: Grad-CAM and adversarial explanations (AE)' },
      {
        kind: 'image', mime: 'image/png', data: panel, alt: 'explanation panels',
        caption: `Each row a held-out image. CAM: Grad-CAM of the predicted class (class and probability under it). AE: the image changed `
          + `within RMS ${args.rho} (${args.aeSteps} steps) to raise the second most likely class (its probability before -> after). `
          + 'On the robust net the AE changes visible, class-like features; on the standard net it is noise that reaches the class anyway.',
      },
    );
  }
  blocks.push({
    kind: 'paragraph',
    text: `Next: advexp eval --data DATA --split models/default.split.json --n 500 for the full-budget numbers; advexp explain for any image; advexp serve to explore in a browser.`,
  });
  const meta = [
    `models: ${reports.map((r) => r.file).join(', ')}`,
    `images: held-out images of ${args.split} from ${args.data} (records ${records.slice(0, 5).join(', ')}, …)`,
    `${seconds.toFixed(0)} s on ${threads} thread(s); ${new Date().toISOString().slice(0, 19).replace('T', ' ')} UTC`,
  ];
  const html = reportHtml({ title: `advexp report: ${reports.map((r) => r.name).join(' vs ')}`, meta, blocks });
  const file = path.join(args.out, 'report.html');
  writeIntoOutDir(args.out, () => writeFileAtomic(file, html));
  if (!args.quiet) {
    for (const r of reports) console.log(`${r.name.padEnd(20)} accuracy ${r.accuracy.toFixed(4)} (${accSet.n} images)  quick Attack ARA ${r.ara.toFixed(4)} (${args.n} images, ${args.steps} steps)  ${r.seconds.toFixed(0)} s`);
  }
  console.log(`wrote ${file} (${seconds.toFixed(0)} s): open it in a browser`);
}
