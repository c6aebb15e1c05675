// advexp gradcam-attack: the paper's Fig. 1 argument as a command. From each image's predicted class, an attack
// moves the decision to the most confident other class within an RMS budget ρ while keeping Grad-CAM where it was
// (src/explain/cam-attack.ts; --attack minimal instead uses the paper's routine in misclassify mode, the smallest
// flip, with no care for the map). Reported: class before/after, RMS, and the Pearson correlation of Grad-CAM of the
// old class on x with Grad-CAM of the new class on x + δ. On a standard network the class flips with an invisible
// perturbation and the map does not move: it did not explain the decision. On a robust one the flip needs more.
import path from 'node:path';
import { parse, intArg, numArg } from './args.js';
import {
  openModel, openData, applyThreads, loadInputs, checkOutput, writeIntoOutDir, modelLabels, withLayerErrors, modelChoices,
  dataOptions, classCount, checkSameInput, MODEL_FLAGS, MODEL_FLAG_HELP, type InputImages, type ModelChoices,
} from './common.js';
import { classNamesOf, type LoadedModel } from '../io/model-file.js';
import { UserError } from './errors.js';
import { tensor, tidy } from '../engine/index.js';
import { PaperMinimalAttack, Misclassification } from '../attack/index.js';
import { explain, probabilities, argmaxExcept, camPreservingAttack } from '../explain/index.js';
import { renderPanel, type PanelTile } from '../report/panel.js';
import { heatmapRgb, blend, deltaRgb, asRgb } from '../report/colour.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { mean, median, pearson } from '../metrics/stats.js';

const HELP = `usage: advexp gradcam-attack [--model FILE]... (IMAGE... | --data PATH (--index I[,J..] | --offset K --n N)) --out DIR [options]
Changes each image's predicted class with a small perturbation and measures whether Grad-CAM moves: class
before/after, RMS of the perturbation, Pearson correlation of Grad-CAM(x, old class) and Grad-CAM(x + δ, new class)
(upsampled to the input size, normalised).

  --model FILE        repeatable (default: the shipped model), e.g. the standard and the robust published nets
  --data PATH         CIFAR-10 batch or image folder; --index I[,J..] picks records, or --offset K --n N a range (default 0, 8)
  --attack A          keep-cam (default): targeted at the most confident other class, RMS ≤ --rho, loss
                      CE + λ·(map change); minimal: the paper's routine, smallest RMS flip (--eps, --momentum)
  --rho R             keep-cam budget (default 0.01)  --lambda L  map weight (default 10)  --steps T (default 100)
  --eps E  --momentum M   minimal: the routine's budget (default 1) and momentum (default 0.9)
  --layer NAME        Grad-CAM layer (default: the model's last convolutional stage, pipe.3 for the paper's nets)
  --scale S           panel enlargement (default 4)   --panel-rows R   images shown in the panel (default 6)
  --threads T         libtorch threads (default: all cores)
  --out DIR           writes DIR/gradcam-attack.png and DIR/gradcam-attack.json
  --quiet             print only the files written (no per-image table)
${MODEL_FLAG_HELP}`;

export interface FlipResult {
  image: number;
  classBefore: number;
  pBefore: number;
  classAfter: number;
  pAfter: number;
  flipped: boolean;
  rms: number;
  /** Pearson correlation of Grad-CAM(x, class before) and Grad-CAM(x + δ, class after), maps upsampled to the input size and normalised. */
  correlation: number;
  /** The same for Grad-CAM(x + δ, class before): does the old class's map move? */
  correlationSameClass: number;
}

/** Median over the images where the value is defined (a failed attack leaves NaN). */
const finiteMedian = (a: number[]): number => median(a.filter((v) => Number.isFinite(v)));

/** What `advexp gradcam-attack` was asked to do, checked before any work. */
export interface GradcamAttackArgs {
  /** Model files; undefined: the shipped model. */
  models: (string | undefined)[];
  attack: 'keep-cam' | 'minimal';
  steps: number;
  eps: number;
  momentum: number;
  rho: number;
  lambda: number;
  layer: string | undefined;
  scale: number;
  panelRows: number;
  files: string[];
  data: string | undefined;
  index: string | undefined;
  /** Records [offset, offset + n) of --data, when no --index picks them. */
  range: { offset: number; n: number } | null;
  threads: string | undefined;
  out: string;
  quiet: boolean;
  model: ModelChoices;
}

/** The command line as GradcamAttackArgs (one-line UserErrors); null when --help was printed. */
export function readArgs(argv: string[]): GradcamAttackArgs | null {
  const { values: v, positionals } = parse(argv, {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, index: { type: 'string' }, offset: { type: 'string' },
    n: { type: 'string' }, steps: { type: 'string' }, eps: { type: 'string' }, momentum: { type: 'string' }, layer: { type: 'string' },
    attack: { type: 'string' }, rho: { type: 'string' }, lambda: { type: 'string' },
    scale: { type: 'string' }, 'panel-rows': { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' }, ...MODEL_FLAGS,
  }, true);
  if (v.help) { console.log(HELP); return null; }
  if (v.out === undefined || v.out === '') throw new UserError('--out DIR is required');
  const steps = intArg(v.steps, 'steps', 100, 1);
  const eps = numArg(v.eps, 'eps', 1);
  if (!(eps > 0)) throw new UserError(`--eps: must be > 0, got '${v.eps}'`);
  const momentum = numArg(v.momentum, 'momentum', 0.9);
  if (!(momentum >= 0 && momentum < 1)) throw new UserError(`--momentum: must be in [0, 1), got '${v.momentum}'`);
  const kind = v.attack ?? 'keep-cam';
  if (kind !== 'keep-cam' && kind !== 'minimal') throw new UserError(`--attack: expected keep-cam or minimal, got '${kind}'`);
  const rho = numArg(v.rho, 'rho', 0.01);
  if (!(rho > 0)) throw new UserError(`--rho: must be > 0, got '${v.rho}'`);
  const lambda = numArg(v.lambda, 'lambda', 10);
  if (!(lambda >= 0)) throw new UserError(`--lambda: must be ≥ 0, got '${v.lambda}'`);
  const scale = intArg(v.scale, 'scale', 4, 1);
  const panelRows = intArg(v['panel-rows'], 'panel-rows', 6, 0);
  if ((v.offset !== undefined || v.n !== undefined) && v.index !== undefined) throw new UserError('give --index or --offset/--n, not both');
  if ((v.offset !== undefined || v.n !== undefined) && v.data === undefined) throw new UserError('--offset/--n need --data');
  const range = v.data !== undefined && v.index === undefined ? { offset: intArg(v.offset, 'offset', 0, 0), n: intArg(v.n, 'n', 8, 1) } : null;
  return {
    models: v.model ?? [undefined], attack: kind, steps, eps, momentum, rho, lambda, layer: v.layer, scale, panelRows,
    files: positionals, data: v.data, index: v.index, range, threads: v.threads, out: v.out, model: modelChoices(v), quiet: v.quiet === true,
  };
}

/** The images, fitted to model m: a record range of a data set (--offset/--n), or what `advexp explain` takes. */
function readInputs(args: GradcamAttackArgs, m: LoadedModel): InputImages {
  const { data, range } = args;
  if (data === undefined || range === null) return loadInputs(args.files, data, args.index, m, args.model.resize);
  const { offset, n } = range;
  const all = openData(data, { ...dataOptions(m, args.model.resize), limit: offset + n });
  if (all.n < offset + n) throw new UserError(`${data}: --n ${n} from record ${offset}, but only ${Math.max(0, all.n - offset)} record(s) are there`);
  const records = Array.from({ length: n }, (_, i) => offset + i);
  const set = offset === 0 ? all : all.subset(records, data);
  return {
    images: set.floats(), n: set.n, channels: set.channels, height: set.height, width: set.width, labels: set.labels, records,
    names: records.map((r) => `${path.basename(data)}[${r}]`), classNames: set.classNames ?? null, notes: [],
  };
}

export function run(argv: string[]): void {
  const args = readArgs(argv);
  if (args === null) return;
  const { steps, eps, momentum, rho, lambda, scale, panelRows, attack: kind } = args;
  const modelFiles = args.models;
  checkOutput(args.out, 'out', 'dir');
  applyThreads(args.threads);
  // The images fit the first model; the others must take the same shape.
  let firstModel: LoadedModel | null = openModel(modelFiles[0], args.model.overrides);
  let inputs: InputImages;
  try {
    inputs = readInputs(args, firstModel);
  } catch (e) {
    firstModel.model.dispose();
    throw e;
  }
  const say = args.quiet ? (): void => {} : console.log;
  for (const note of inputs.notes) say(note);
  const { n, channels: C, height: H, width: W } = inputs;
  const P = H * W;
  const attack = new PaperMinimalAttack({ steps, eps, momentum, guard: false });
  const layer = args.layer;
  const cam = { method: 'gradcam' as const, ...(layer !== undefined ? { layer } : {}) };

  const perModel: { model: string; results: FlipResult[]; adv: Float32Array; camBefore: Float32Array; camAfter: Float32Array; names: string[] }[] = [];
  for (const mf of modelFiles) {
    const m = firstModel ?? openModel(mf, args.model.overrides);
    firstModel = null;
    const { model, file } = m;
    try {
      checkSameInput(inputs, m);
      const K = classCount(m, inputs);
      const names = classNamesOf(m, K, inputs.classNames);
      const out = tidy(() => {
        const x = tensor(inputs.images, [n, C, H, W]);
        const p0 = probabilities(model, x).data();
        const c0 = Int32Array.from({ length: n }, (_, i) => argmaxExcept(p0.subarray(i * K, (i + 1) * K), -1));
        let adv: Float32Array;
        let rms: ArrayLike<number>;
        if (kind === 'minimal') {
          const r = attack.run(model, x, new Misclassification(c0), { keepImages: true });
          adv = r.raw!;
          rms = r.distances;
        } else {
          const to = Int32Array.from({ length: n }, (_, i) => argmaxExcept(p0.subarray(i * K, (i + 1) * K), c0[i]!));
          const r = withLayerErrors(() => camPreservingAttack(model, x, c0, to, { rho, lambda, steps, ...(layer !== undefined ? { layer } : {}) }));
          adv = r.adv;
          rms = r.rms;
        }
        const xa = tensor(adv, [n, C, H, W]);
        const p1 = probabilities(model, xa).data();
        const c1 = Int32Array.from({ length: n }, (_, i) => argmaxExcept(p1.subarray(i * K, (i + 1) * K), -1));
        const before = withLayerErrors(() => explain(model, x, c0, cam)).maps;
        const after = withLayerErrors(() => explain(model, xa, c1, cam)).maps;
        const sameClass = withLayerErrors(() => explain(model, xa, c0, cam)).maps;
        const results: FlipResult[] = Array.from({ length: n }, (_, i) => ({
          image: i, classBefore: c0[i]!, pBefore: p0[i * K + c0[i]!]!, classAfter: c1[i]!, pAfter: p1[i * K + c1[i]!]!,
          flipped: c1[i] !== c0[i], rms: rms[i]!,
          correlation: pearson(before.subarray(i * P, (i + 1) * P), after.subarray(i * P, (i + 1) * P)),
          correlationSameClass: pearson(before.subarray(i * P, (i + 1) * P), sameClass.subarray(i * P, (i + 1) * P)),
        }));
        return { model: file, results, adv, camBefore: before, camAfter: after, names };
      });
      perModel.push(out);
    } finally {
      model.dispose();
    }
  }

  // Report.
  const summary = perModel.map((m) => {
    const ok = m.results.filter((r) => r.flipped);
    return {
      model: m.model, n, flipped: ok.length,
      median_rms: finiteMedian(ok.map((r) => r.rms)),
      median_correlation: finiteMedian(ok.map((r) => r.correlation)),
      mean_correlation: mean(ok.map((r) => r.correlation).filter(Number.isFinite)),
      median_correlation_same_class: finiteMedian(ok.map((r) => r.correlationSameClass)),
    };
  });
  const labels = modelLabels(perModel.map((m) => m.model));
  for (const [k, m] of perModel.entries()) {
    say(`${labels[k]}:`);
    for (const r of m.results) {
      say(`  ${inputs.names[r.image]!.padEnd(22)} ${m.names[r.classBefore]!.padEnd(10)} ${r.pBefore.toFixed(2)} -> `
        + `${(r.flipped ? m.names[r.classAfter]! : '(no flip)').padEnd(10)} ${r.pAfter.toFixed(2)}  rms ${Number.isFinite(r.rms) ? r.rms.toFixed(4) : '-'}  `
        + `Grad-CAM r ${Number.isFinite(r.correlation) ? r.correlation.toFixed(3) : 'n/a'} (old class on new image ${Number.isFinite(r.correlationSameClass) ? r.correlationSameClass.toFixed(3) : 'n/a'})`);
    }
    const s = summary[k]!;
    say(`  flipped ${s.flipped}/${n}, median RMS ${s.median_rms.toFixed(4)}, Grad-CAM correlation median ${s.median_correlation.toFixed(3)} (mean ${s.mean_correlation.toFixed(3)})`);
  }

  const rows: (PanelTile | null)[][] = [];
  const rowLabels: string[][] = [];
  for (let i = 0; i < Math.min(n, panelRows); i++) {
    const img = asRgb(inputs.images.subarray(i * C * P, (i + 1) * C * P), C, P);
    for (const [k, m] of perModel.entries()) {
      const r = m.results[i]!;
      const adv = asRgb(m.adv.subarray(i * C * P, (i + 1) * C * P), C, P);
      const delta = Float32Array.from(adv, (a, j) => a - img[j]!);
      rows.push([
        { rgb: img, height: H, width: W, caption: [`${m.names[r.classBefore]} ${r.pBefore.toFixed(2)}`] },
        { rgb: blend(img, heatmapRgb(m.camBefore.subarray(i * P, (i + 1) * P), H, W)), height: H, width: W, caption: [`CAM ${m.names[r.classBefore]}`] },
        { rgb: adv, height: H, width: W, caption: [r.flipped ? `${m.names[r.classAfter]} ${r.pAfter.toFixed(2)}` : 'no flip', `rms ${Number.isFinite(r.rms) ? r.rms.toFixed(4) : '-'}`] },
        { rgb: blend(adv, heatmapRgb(m.camAfter.subarray(i * P, (i + 1) * P), H, W)), height: H, width: W, caption: [`CAM ${m.names[r.classAfter]}`, `r = ${Number.isFinite(r.correlation) ? r.correlation.toFixed(2) : 'n/a'}`] },
        { rgb: deltaRgb(delta), height: H, width: W, caption: ['δ (scaled)'] },
      ]);
      rowLabels.push([labels[k]!.slice(0, 24), inputs.names[i]!.slice(0, 24)]);
    }
  }
  const pngFile = path.join(args.out, 'gradcam-attack.png');
  const jsonFile = path.join(args.out, 'gradcam-attack.json');
  const panel = rows.length > 0 ? renderPanel(rows, { scale, rowLabels }) : null;
  const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const json = {
    settings: kind === 'minimal' ? { attack: kind, steps, eps, momentum, overshoot: 1, layer: layer ?? 'default' } : { attack: kind, rho, lambda, steps, overshoot: 5, layer: layer ?? 'default' },
    inputs: inputs.names.map((name, i) => ({ image: i, name, ...(inputs.records ? { record: inputs.records[i] } : {}), ...(inputs.labels ? { label: inputs.labels[i] } : {}) })),
    summary: summary.map((s) => Object.fromEntries(Object.entries(s).map(([k, x]) => [k, typeof x === 'number' ? fin(x) : x]))),
    results: perModel.map((m) => ({
      model: m.model,
      images: m.results.map((r) => ({
        image: r.image, class_before: r.classBefore, class_before_name: m.names[r.classBefore], p_before: r.pBefore,
        class_after: r.classAfter, class_after_name: m.names[r.classAfter], p_after: r.pAfter, flipped: r.flipped,
        rms: fin(r.rms), correlation: fin(r.correlation), correlation_same_class: fin(r.correlationSameClass),
      })),
    })),
  };
  writeIntoOutDir(args.out, () => {
    if (panel !== null) writeFileAtomic(pngFile, panel);
    writeJsonAtomic(jsonFile, json);
  });
  console.log(`wrote ${rows.length > 0 ? `${pngFile} and ` : ''}${jsonFile}`);
}
