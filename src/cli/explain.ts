// advexp explain: adversarial explanations (METHOD.md §5) and the baseline explainers (§7) for a few images, as a
// PNG panel like the paper's figures plus a JSON with every number. Thin: inputs, the library, pictures, files.
import fs from 'node:fs';
import path from 'node:path';
import { parse, intArg, numArg } from './args.js';
import { openModel, applyThreads } from './common.js';
import { UserError } from './errors.js';
import { tensor, tidy, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { loadDataset, toFloatImages } from '../data/dataset.js';
import { decodeImage, resizeToChw } from '../data/images.js';
import { CIFAR10_CLASSES } from '../data/cifar.js';
import {
  makeExplainer, expandTargets, parseTargetSpecs, probabilities, argmaxExcept, METHODS,
  type Attribution, type ExplainOptions, type MethodName, type TargetPair,
} from '../explain/index.js';
import { renderPanel, type PanelTile } from '../report/panel.js';
import { heatmapRgb, blend, limeRgb } from '../report/colour.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';

const HELP = `usage: advexp explain [--model FILE] (IMAGE... | --data PATH --index I[,J..]) --out DIR [options]
Adversarial explanations (the image x + δ the network would call each target class, RMS(δ) ≤ ρ) beside Grad-CAM,
LIME, saliency, SmoothGrad and integrated gradients, as a PNG panel (one row per image and model) and a JSON.

  IMAGE...              PNG or JPEG files of any size (resized to the model's 32×32 input)
  --data PATH           CIFAR-10 batch file/dir/tarball or image folder; with --index I[,J..] (record numbers)
  --model FILE          model (default: the shipped one)
  --compare-models A,B  several models, one row each per image (the paper's Fig. 4)
  --targets LIST        AE targets: true, second (most confident wrong class), all, or class numbers
                        (default true,second; without labels 'true' is the predicted class)
  --methods LIST        ae,gradcam,lime,saliency,smoothgrad,ig (default ae,gradcam,lime); maps explain the
                        predicted class
  --rho R               AE budget, RMS of δ in [0, 1] pixels (default 0.1)
  --steps T             AE steps (default 35)      --overshoot O   (default 5)
  --layer NAME          Grad-CAM layer (default pipe.3, the last stage)
  --lime-samples N      (default 1000)   --segments K  SLIC superpixels (default 64)   --top-k K (default 5)
  --smoothgrad-samples N (default 25)    --ig-steps M (default 32)
  --scale S             enlargement of each 32×32 image in the panel (default 4)
  --threads T           libtorch threads (default: all cores)
  --out DIR             writes DIR/explain.png and DIR/explain.json
  --quiet               no progress bar`;

/** The model input size of the CIFAR networks. */
export const INPUT_SIZE: [number, number] = [32, 32];

export interface InputImages {
  /** n·3·H·W in [0, 1]. */
  images: Float32Array;
  n: number;
  height: number;
  width: number;
  labels: Int32Array | null;
  /** Display name per image (file name or data[index]). */
  names: string[];
  /** Record numbers (with --data) or null. */
  records: number[] | null;
  classNames: string[] | null;
  /** "photo.jpg: 640×480 resized to 32×32" per resized file. */
  notes: string[];
}

/** Image files, or records of a data set: one-line UserErrors naming the file or argument. */
export function loadInputs(files: string[], data: string | undefined, index: string | undefined): InputImages {
  const [height, width] = INPUT_SIZE;
  const per = 3 * height * width;
  if (files.length > 0 && data !== undefined) throw new UserError('give image files or --data, not both');
  if (data !== undefined) {
    if (index === undefined) throw new UserError('--data needs --index I[,J..] (record numbers)');
    const records = index.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
      const k = Number(s);
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(k)) throw new UserError(`--index: '${s}' is not a record number`);
      return k;
    });
    if (records.length === 0) throw new UserError('--index: empty list');
    let set;
    try {
      set = loadDataset(data, { limit: Math.max(...records) + 1, size: INPUT_SIZE });
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    const bad = records.find((r) => r >= set.n);
    if (bad !== undefined) throw new UserError(`--index ${bad}: ${data} has ${set.n} record(s)`);
    if (set.channels !== 3 || set.height !== height || set.width !== width) {
      throw new UserError(`${data}: images are ${set.channels}×${set.height}×${set.width}, the model takes 3×${height}×${width}`);
    }
    const all = toFloatImages(set);
    const images = new Float32Array(records.length * per);
    records.forEach((r, i) => images.set(all.subarray(r * per, (r + 1) * per), i * per));
    return {
      images, n: records.length, height, width, labels: Int32Array.from(records, (r) => set.labels[r]!),
      names: records.map((r) => `${path.basename(data)}[${r}]`), records, classNames: set.classNames, notes: [],
    };
  }
  if (files.length === 0) throw new UserError('no input: give IMAGE files or --data PATH --index I');
  const images = new Float32Array(files.length * per);
  const notes: string[] = [];
  files.forEach((f, i) => {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(f);
    } catch (e) {
      throw new UserError(`${f}: cannot read image (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    let img;
    try {
      img = decodeImage(bytes, f);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    if (img.width !== width || img.height !== height) notes.push(`${f}: ${img.width}×${img.height} resized to ${width}×${height}`);
    const chw = resizeToChw(img, height, width);
    for (let j = 0; j < per; j++) images[i * per + j] = chw[j]! / 255;
  });
  return { images, n: files.length, height, width, labels: null, names: files.map((f) => path.basename(f)), records: null, classNames: null, notes };
}

export function listArg<T extends string>(v: string | undefined, flag: string, allowed: readonly T[], dflt: readonly T[]): T[] {
  if (v === undefined) return [...dflt];
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UserError(`--${flag}: empty list`);
  for (const it of items) if (!allowed.includes(it as T)) throw new UserError(`--${flag}: unknown value '${it}' (expected ${allowed.join(', ')})`);
  return [...new Set(items)] as T[];
}

export function classNamesFor(k: number, fromData: string[] | null): string[] {
  if (fromData !== null && fromData.length === k) return fromData;
  if (k === CIFAR10_CLASSES.length) return [...CIFAR10_CLASSES];
  return Array.from({ length: k }, (_, i) => `class ${i}`);
}

export function prepareOutDir(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UserError(`--out ${dir}: exists and is not a directory`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`--out ${dir}: cannot create (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export const shortModelName = (file: string): string => path.basename(file).replace(/\.safetensors$/, '');
const r6 = (v: number): number => (Number.isFinite(v) ? +v.toPrecision(6) : v);
const arr6 = (a: ArrayLike<number>): number[] => Array.from(a, r6);
const fit = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 2)}..`);

interface ModelResult {
  model: string;
  probs: Float32Array;
  classes: number;
  pairs: TargetPair[];
  ae: Attribution | null;
  maps: Map<MethodName, Attribution>;
}

export function methodOptions(m: MethodName, v: Record<string, unknown>, onStep?: (b: number) => void): ExplainOptions {
  const int = (k: string, d: number, min = 1): number => intArg(v[k] as string | undefined, k, d, min);
  const num = (k: string, d: number): number => numArg(v[k] as string | undefined, k, d);
  switch (m) {
    case 'ae': {
      const rho = num('rho', 0.1), overshoot = num('overshoot', 5);
      if (!(rho > 0)) throw new UserError(`--rho: must be > 0, got '${v.rho}'`);
      if (!(overshoot > 0)) throw new UserError(`--overshoot: must be > 0, got '${v.overshoot}'`);
      return { method: 'ae', rho, steps: int('steps', 35), overshoot, ...(onStep ? { onStep } : {}) };
    }
    case 'gradcam': return { method: 'gradcam', ...(v.layer !== undefined ? { layer: v.layer as string } : {}) };
    case 'lime': return { method: 'lime', samples: int('lime-samples', 1000, 2), segments: int('segments', 64), topK: int('top-k', 5) };
    case 'saliency': return { method: 'saliency' };
    case 'smoothgrad': return { method: 'smoothgrad', samples: int('smoothgrad-samples', 25) };
    case 'ig': return { method: 'ig', steps: int('ig-steps', 32) };
  }
}

/** Runs a method, turning library errors about user choices (an unknown layer) into one-line UserErrors. */
export function attribute(model: Module, x: Tensor, targets: Int32Array, opts: ExplainOptions): Attribution {
  try {
    return makeExplainer(opts).attribute(model, x, targets);
  } catch (e) {
    const msg = (e as Error).message;
    if (/^layer '/.test(msg) || /no default layer/.test(msg)) throw new UserError(`--layer: ${msg}`);
    throw e;
  }
}

function gatherImages(x: Tensor, idx: number[]): Tensor {
  return x.indexSelect(0, tensor(Int32Array.from(idx), [idx.length]).cast('int64'));
}

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    model: { type: 'string' }, 'compare-models': { type: 'string' }, data: { type: 'string' }, index: { type: 'string' },
    targets: { type: 'string' }, methods: { type: 'string' }, rho: { type: 'string' }, steps: { type: 'string' },
    overshoot: { type: 'string' }, layer: { type: 'string' }, 'lime-samples': { type: 'string' }, segments: { type: 'string' },
    'top-k': { type: 'string' }, 'smoothgrad-samples': { type: 'string' }, 'ig-steps': { type: 'string' },
    scale: { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' },
  }, true);
  if (values.help) { console.log(HELP); return; }
  const v = values as Record<string, string | undefined>;
  if (v.out === undefined || v.out === '') throw new UserError('--out DIR is required');
  const methods = listArg(v.methods, 'methods', METHODS, ['ae', 'gradcam', 'lime']);
  const scale = intArg(v.scale, 'scale', 4, 1);
  if (scale > 32) throw new UserError(`--scale: at most 32, got '${v.scale}'`);
  const modelFiles: (string | undefined)[] = v['compare-models'] !== undefined
    ? v['compare-models'].split(',').map((s) => s.trim()).filter((s) => s !== '')
    : [v.model];
  if (modelFiles.length === 0) throw new UserError('--compare-models: empty list');
  if (v['compare-models'] !== undefined && v.model !== undefined) throw new UserError('give --model or --compare-models, not both');
  // Validate every option before any work.
  const steps = intArg(v.steps, 'steps', 35, 1);
  const opts = new Map(methods.map((m) => [m, methodOptions(m, v)] as const));
  applyThreads(v.threads);
  const inputs = loadInputs(positionals, v.data, v.index);
  prepareOutDir(v.out);
  for (const note of inputs.notes) console.log(note);

  const results: ModelResult[] = [];
  let bar: Progress | null = null;
  for (const mf of modelFiles) {
    const { model, file } = openModel(mf);
    try {
      const K = model.config.classes;
      const specs = (() => {
        try { return parseTargetSpecs(v.targets ?? 'true,second', K); } catch (e) { throw new UserError((e as Error).message); }
      })();
      if (inputs.labels !== null) {
        const bad = inputs.labels.find((l) => l >= K);
        if (bad !== undefined) throw new UserError(`${v.data}: label ${bad} but ${file} has ${K} classes`);
      }
      const r = tidy(() => {
        const x = tensor(inputs.images, [inputs.n, 3, inputs.height, inputs.width]);
        const probs = tidy(() => probabilities(model, x).data());
        const pairs = expandTargets(probs, K, inputs.labels, specs);
        const res: ModelResult = { model: file, probs, classes: K, pairs, ae: null, maps: new Map() };
        if (methods.includes('ae')) {
          bar ??= new Progress({ label: 'explain', total: modelFiles.length * pairs.length * steps, unit: 'img-step', quiet: (values.quiet as unknown) === true });
          const b = bar;
          const aeOpts = { ...opts.get('ae')!, onStep: (k: number) => b.tick(k) } as ExplainOptions;
          res.ae = attribute(model, gatherImages(x, pairs.map((p) => p.image)), Int32Array.from(pairs, (p) => p.target), aeOpts);
        }
        const pred = Int32Array.from({ length: inputs.n }, (_, i) => argmaxExcept(probs.subarray(i * K, (i + 1) * K), -1));
        for (const m of methods) if (m !== 'ae') res.maps.set(m, attribute(model, x, pred, opts.get(m)!));
        return res;
      });
      results.push(r);
    } finally {
      model.dispose();
    }
  }
  (bar as Progress | null)?.finish();

  // Panel: one row per (image, model).
  const { height: H, width: W } = inputs;
  const P = H * W;
  const rows: (PanelTile | null)[][] = [];
  const rowLabels: string[][] = [];
  for (let i = 0; i < inputs.n; i++) {
    const img = inputs.images.subarray(i * 3 * P, (i + 1) * 3 * P);
    for (const r of results) {
      const names = classNamesFor(r.classes, inputs.classNames);
      const p = r.probs.subarray(i * r.classes, (i + 1) * r.classes);
      const pred = argmaxExcept(p, -1);
      const row: (PanelTile | null)[] = [{
        rgb: img, height: H, width: W,
        caption: [fit(inputs.names[i]!, 22), ...(inputs.labels ? [`true ${names[inputs.labels[i]!]}`] : []), `pred ${names[pred]} ${p[pred]!.toFixed(2)}`],
      }];
      if (r.ae) {
        r.pairs.forEach((pr, j) => {
          if (pr.image !== i) return;
          const ae = r.ae!.ae!;
          const kind = pr.kind === 'true' ? (inputs.labels ? 'true ' : 'pred ') : pr.kind === 'second' ? '2nd ' : '';
          row.push({
            rgb: ae.images.subarray(j * 3 * P, (j + 1) * 3 * P), height: H, width: W,
            caption: [`${kind}${names[pr.target]}`, `p ${r.ae!.pBefore[j]!.toFixed(2)}->${ae.pAfter[j]!.toFixed(2)}`],
          });
        });
      }
      for (const [m, a] of r.maps) {
        const map = a.maps.subarray(i * P, (i + 1) * P);
        let rgb: Float32Array;
        if (m === 'gradcam') rgb = blend(img, heatmapRgb(map, H, W), 0.5);
        else if (m === 'lime') rgb = limeRgb(img, a.lime!.segments.subarray(i * P, (i + 1) * P), a.lime!.top[i]!, H, W);
        else rgb = heatmapRgb(map, H, W, m === 'ig');
        const title = { gradcam: 'Grad-CAM', lime: `LIME top ${a.lime?.top[i]?.length ?? 0}`, saliency: 'saliency', smoothgrad: 'SmoothGrad', ig: 'IG', ae: 'AE' }[m];
        row.push({ rgb, height: H, width: W, caption: [title, names[pred]!] });
      }
      rows.push(row);
      rowLabels.push(results.length > 1 ? [fit(shortModelName(r.model), 24)] : []);
    }
  }
  const png = renderPanel(rows, { scale, ...(results.length > 1 ? { rowLabels } : {}) });

  const json = {
    models: results.map((r) => r.model),
    inputs: Array.from({ length: inputs.n }, (_, i) => ({
      image: i, name: inputs.names[i], ...(inputs.records ? { record: inputs.records[i] } : {}),
      ...(inputs.labels ? { label: inputs.labels[i] } : {}),
    })),
    notes: inputs.notes,
    settings: Object.fromEntries([...opts].map(([m, o]) => [m, Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'onStep' && k !== 'method'))])),
    results: results.map((r) => {
      const names = classNamesFor(r.classes, inputs.classNames);
      return {
        model: r.model,
        predictions: Array.from({ length: inputs.n }, (_, i) => {
          const p = r.probs.subarray(i * r.classes, (i + 1) * r.classes);
          return { image: i, class: argmaxExcept(p, -1), class_name: names[argmaxExcept(p, -1)], probabilities: arr6(p) };
        }),
        ae: r.ae === null ? [] : r.pairs.map((pr, j) => ({
          image: pr.image, target: pr.target, class: names[pr.target], kind: pr.kind,
          p_before: r6(r.ae!.pBefore[j]!), p_after: r6(r.ae!.ae!.pAfter[j]!), class_after: r.ae!.ae!.classAfter[j],
          rms: r6(r.ae!.ae!.rms[j]!),
        })),
        maps: Object.fromEntries([...r.maps].map(([m, a]) => [m, Array.from({ length: inputs.n }, (_, i) => ({
          image: i, target: a.targets[i], class: names[a.targets[i]!], p: r6(a.pBefore[i]!),
          map: arr6(a.maps.subarray(i * P, (i + 1) * P)),
          ...(a.gradcam ? { layer: a.gradcam.layer, cam: arr6(a.gradcam.cam.subarray(i * a.gradcam.camHeight * a.gradcam.camWidth, (i + 1) * a.gradcam.camHeight * a.gradcam.camWidth)), cam_shape: [a.gradcam.camHeight, a.gradcam.camWidth] } : {}),
          ...(a.lime ? { superpixels: a.lime.counts[i], top: Array.from(a.lime.top[i]!), weights: arr6(a.lime.weights[i]!), intercept: r6(a.lime.intercept[i]!), r2: r6(a.lime.score[i]!) } : {}),
          ...(a.ig ? { completeness_gap: r6(a.ig.delta[i]!) } : {}),
        }))])),
      };
    }),
  };
  const pngFile = path.join(v.out, 'explain.png');
  const jsonFile = path.join(v.out, 'explain.json');
  writeFileAtomic(pngFile, png);
  writeJsonAtomic(jsonFile, json);

  for (const r of results) {
    const names = classNamesFor(r.classes, inputs.classNames);
    if (results.length > 1) console.log(`${shortModelName(r.model)}:`);
    if (r.ae) {
      r.pairs.forEach((pr, j) => {
        const a = r.ae!;
        console.log(`  ${inputs.names[pr.image]} ${pr.kind.padEnd(6)} ${names[pr.target]!.padEnd(11)} p ${a.pBefore[j]!.toFixed(3)} -> ${a.ae!.pAfter[j]!.toFixed(3)}  rms ${a.ae!.rms[j]!.toFixed(4)}  now ${names[a.ae!.classAfter[j]!]}`);
      });
    }
  }
  console.log(`wrote ${pngFile} and ${jsonFile}`);
}
