// advexp explain: adversarial explanations (METHOD.md §5) and the baseline explainers (§7) for a few images, as a
// PNG panel like the paper's figures plus a JSON with every number. Thin: inputs, the library, pictures, files.
import path from 'node:path';
import { parse, intArg } from './args.js';
import {
  openModel, applyThreads, loadInputs, listArg, checkOutput, writeIntoOutDir, modelLabels,
  explainerFlags, explainerFlagHelp, methodOptions, optionSettings, withLayerErrors, modelChoices, checkSameInput, classCount,
  MODEL_FLAGS, MODEL_FLAG_HELP, type InputImages, type ModelChoices,
} from './common.js';
import { classNamesOf } from '../io/model-file.js';
import { UserError, asUserError } from './errors.js';
import { tensor, tidy, type Tensor } from '../engine/index.js';
import {
  explain, explainerFor, explainerNames, expandTargets, parseTargetSpecs, probabilities, argmaxExcept,
  type AnyExplainOptions, type AnyExplanation, type Explanation, type OptionsOf, type ReportValue, type TargetPair,
} from '../explain/index.js';
import { renderPanel, type PanelTile } from '../report/panel.js';
import { heatmapRgb, blend, limeRgb, asRgb } from '../report/colour.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';

const help = (): string => `usage: advexp explain [--model FILE] (IMAGE... | --data PATH --index I[,J..]) --out DIR [options]
Adversarial explanations (the image x + δ the network would call each target class, RMS(δ) ≤ ρ) beside Grad-CAM,
LIME, saliency, SmoothGrad and integrated gradients, as a PNG panel (one row per image and model) and a JSON.

  IMAGE...              image files of any size (PNG, JPEG, WebP, AVIF, TIFF, GIF) (brought to the model's input: --resize)
  --data PATH           CIFAR-10 batch file/dir/tarball or image folder; with --index I[,J..] (record numbers)
  --model FILE          model (default: the shipped one)
  --compare-models A,B  several models, one row each per image (the paper's Fig. 4)
  --targets LIST        AE targets: true, second (most confident wrong class), all, or class numbers
                        (default true,second; without labels 'true' is the predicted class)
  --methods LIST        ${explainerNames().join(',')} (default ae,gradcam,lime); maps explain the
                        predicted class
${explainerFlagHelp()}
  --scale S             enlargement of each image in the panel (default 4)
  --delta               after each AE, its |δ| map (per pixel, summed over channels; jet, scaled to its maximum)
  --threads T           libtorch threads (default: all cores)
  --out DIR             writes DIR/explain.png and DIR/explain.json
  --quiet               no progress bar
${MODEL_FLAG_HELP}`;

const r6 = (v: number): number => (Number.isFinite(v) ? +v.toPrecision(6) : v);
const arr6 = (a: ArrayLike<number>): number[] => Array.from(a, r6);
const fit = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 2)}..`);

interface ModelResult {
  model: string;
  probs: Float32Array;
  classes: number;
  classNames: string[];
  pairs: TargetPair[];
  ae: Explanation<'ae'> | null;
  maps: Map<string, AnyExplanation>;
}

/** What `advexp explain` was asked to do, checked before any work. */
export interface ExplainArgs {
  files: string[];
  data: string | undefined;
  index: string | undefined;
  /** Model files; undefined: the shipped model. */
  models: (string | undefined)[];
  targets: string;
  methods: string[];
  /** Each method's options, from its flags. */
  options: Map<string, AnyExplainOptions>;
  ae: OptionsOf<'ae'> | null;
  scale: number;
  /** A |δ| tile after each AE tile. */
  delta: boolean;
  threads: string | undefined;
  out: string;
  quiet: boolean;
  model: ModelChoices;
}

/** The command line as ExplainArgs (one-line UserErrors); null when --help was printed. */
export function readArgs(argv: string[]): ExplainArgs | null {
  const { values: v, positionals } = parse(argv, {
    model: { type: 'string' }, 'compare-models': { type: 'string' }, data: { type: 'string' }, index: { type: 'string' },
    targets: { type: 'string' }, methods: { type: 'string' }, scale: { type: 'string' }, threads: { type: 'string' },
    out: { type: 'string' }, quiet: { type: 'boolean' }, delta: { type: 'boolean' }, ...MODEL_FLAGS, ...explainerFlags(),
  }, true);
  if (v.help) { console.log(help()); return null; }
  if (v.out === undefined || v.out === '') throw new UserError('--out DIR is required');
  const methods = listArg(v.methods, 'methods', explainerNames(), ['ae', 'gradcam', 'lime']);
  const scale = intArg(v.scale, 'scale', 4, 1);
  if (scale > 32) throw new UserError(`--scale: at most 32, got '${v.scale}'`);
  const compare = v['compare-models'];
  const models: (string | undefined)[] = compare !== undefined ? compare.split(',').map((s) => s.trim()).filter((s) => s !== '') : [v.model];
  if (models.length === 0) throw new UserError('--compare-models: empty list');
  if (compare !== undefined && v.model !== undefined) throw new UserError('give --model or --compare-models, not both');
  return {
    files: positionals, data: v.data, index: v.index, models, targets: v.targets ?? 'true,second', methods,
    options: new Map(methods.map((m) => [m, methodOptions(m, v)] as const)),
    ae: methods.includes('ae') ? methodOptions('ae', v) : null,
    scale, delta: v.delta === true, threads: v.threads, out: v.out, quiet: v.quiet === true, model: modelChoices(v),
  };
}

/** JSON numbers to 6 significant digits, lists element-wise; strings as they are. */
function reportValue(v: ReportValue): string | number | number[] {
  return typeof v === 'number' ? r6(v) : typeof v === 'string' ? v : arr6(v);
}

/** One map of a registered method as a picture: its regions, or its heat map (over the image when it reads there). */
function mapTile(a: AnyExplanation, i: number, img: Float32Array): { rgb: Float32Array; title: string } {
  const def = explainerFor(a.method);
  const { height: H, width: W } = a;
  const regions = def.regions?.(a, i);
  if (regions !== undefined) return { rgb: limeRgb(img, regions.segments, regions.chosen, H, W), title: `${def.short} top ${regions.chosen.length}` };
  const heat = heatmapRgb(a.maps.subarray(i * H * W, (i + 1) * H * W), H, W, def.signed);
  return { rgb: def.overlay ? blend(img, heat, 0.5) : heat, title: def.short };
}

function gatherImages(x: Tensor, idx: number[]): Tensor {
  return x.indexSelect(0, tensor(Int32Array.from(idx), [idx.length]).cast('int64'));
}

export async function run(argv: string[]): Promise<void> {
  const args = readArgs(argv);
  if (args === null) return;
  checkOutput(args.out, 'out', 'dir');
  applyThreads(args.threads);

  const results: ModelResult[] = [];
  let bar: Progress | null = null;
  let inputs: InputImages | null = null;
  for (const mf of args.models) {
    const m = openModel(mf, args.model.overrides);
    const { model, file } = m;
    try {
      // The images fit the first model; the others must take the same shape (one panel, one grid).
      if (inputs === null) {
        inputs = loadInputs(args.files, args.data, args.index, m, args.model.resize);
        for (const note of inputs.notes) console.log(note);
      } else {
        checkSameInput(inputs, m);
      }
      const inp = inputs;
      const K = classCount(m, inp);
      const classNames = classNamesOf(m, K, inp.classNames);
      const specs = (() => {
        return asUserError(() => parseTargetSpecs(args.targets, K));
      })();
      if (inp.labels !== null) {
        const bad = inp.labels.find((l) => l >= K);
        if (bad !== undefined) throw new UserError(`${args.data}: label ${bad} but ${file} has ${K} classes`);
      }
      const r = tidy(() => {
        const x = tensor(inp.images, [inp.n, inp.channels, inp.height, inp.width]);
        const probs = tidy(() => probabilities(model, x).data());
        const pairs = expandTargets(probs, K, inp.labels, specs);
        const res: ModelResult = { model: file, probs, classes: K, classNames, pairs, ae: null, maps: new Map() };
        if (args.ae !== null) {
          const aeOpts = args.ae;
          const b = bar ??= new Progress({ label: 'explain', total: args.models.length * pairs.length * (aeOpts.steps ?? 0), unit: 'img-step', quiet: args.quiet });
          res.ae = withLayerErrors(() => explain(model, gatherImages(x, pairs.map((p) => p.image)), Int32Array.from(pairs, (p) => p.target),
            { ...aeOpts, onStep: (k: number) => b.tick(k) }));
        }
        const pred = Int32Array.from({ length: inp.n }, (_, i) => argmaxExcept(probs.subarray(i * K, (i + 1) * K), -1));
        for (const [m, o] of args.options) if (m !== 'ae') res.maps.set(m, withLayerErrors(() => explain(model, x, pred, o)));
        return res;
      });
      results.push(r);
    } finally {
      model.dispose();
    }
  }
  (bar as Progress | null)?.finish();
  if (inputs === null) return;

  // Panel: one row per (image, model).
  const { height: H, width: W, channels: C } = inputs;
  const P = H * W;
  const rows: (PanelTile | null)[][] = [];
  const rowLabels: string[][] = [];
  const labels = modelLabels(results.map((r) => r.model));
  for (let i = 0; i < inputs.n; i++) {
    const img = asRgb(inputs.images.subarray(i * C * P, (i + 1) * C * P), C, P);
    for (const [k, r] of results.entries()) {
      const names = r.classNames;
      const p = r.probs.subarray(i * r.classes, (i + 1) * r.classes);
      const pred = argmaxExcept(p, -1);
      const row: (PanelTile | null)[] = [{
        rgb: img, height: H, width: W,
        caption: [fit(inputs.names[i]!, 22), ...(inputs.labels ? [`true ${names[inputs.labels[i]!]}`] : []), `pred ${names[pred]} ${p[pred]!.toFixed(2)}`],
      }];
      const ae = r.ae;
      if (ae !== null) {
        r.pairs.forEach((pr, j) => {
          if (pr.image !== i) return;
          const kind = pr.kind === 'true' ? (inputs.labels ? 'true ' : 'pred ') : pr.kind === 'second' ? '2nd ' : '';
          const adv = ae.details.images.subarray(j * C * P, (j + 1) * C * P);
          row.push({
            rgb: asRgb(adv, C, P), height: H, width: W,
            caption: [`${kind}${names[pr.target]}`, `p ${ae.pBefore[j]!.toFixed(2)} → ${ae.details.pAfter[j]!.toFixed(2)}`],
          });
          if (args.delta) {
            // Where the AE changed the picture: |δ| per pixel, summed over channels (the paper's Fig. 2 δ maps).
            const src = inputs.images.subarray(i * C * P, (i + 1) * C * P);
            const mag = new Float32Array(P);
            for (let c = 0; c < C; c++) for (let q = 0; q < P; q++) mag[q]! += Math.abs(adv[c * P + q]! - src[c * P + q]!);
            row.push({ rgb: heatmapRgb(mag, H, W, false), height: H, width: W, caption: ['|δ|', `max ${Math.max(...mag).toFixed(2)}`] });
          }
        });
      }
      for (const a of r.maps.values()) {
        const { rgb, title } = mapTile(a, i, img);
        row.push({ rgb, height: H, width: W, caption: [title, names[pred]!] });
      }
      rows.push(row);
      rowLabels.push(results.length > 1 ? [fit(labels[k]!, 24)] : []);
    }
  }
  const png = renderPanel(rows, { scale: args.scale, ...(results.length > 1 ? { rowLabels } : {}) });

  const json = {
    models: results.map((r) => r.model),
    inputs: Array.from({ length: inputs.n }, (_, i) => ({
      image: i, name: inputs.names[i], ...(inputs.records ? { record: inputs.records[i] } : {}),
      ...(inputs.labels ? { label: inputs.labels[i] } : {}),
    })),
    notes: inputs.notes,
    settings: Object.fromEntries([...args.options].map(([m, o]) => [m, optionSettings(o)])),
    results: results.map((r) => {
      const names = r.classNames;
      const ae = r.ae;
      return {
        model: r.model,
        predictions: Array.from({ length: inputs.n }, (_, i) => {
          const p = r.probs.subarray(i * r.classes, (i + 1) * r.classes);
          return { image: i, class: argmaxExcept(p, -1), class_name: names[argmaxExcept(p, -1)], probabilities: arr6(p) };
        }),
        ae: ae === null ? [] : r.pairs.map((pr, j) => ({
          image: pr.image, target: pr.target, class: names[pr.target], kind: pr.kind,
          p_before: r6(ae.pBefore[j]!), p_after: r6(ae.details.pAfter[j]!), class_after: ae.details.classAfter[j],
          rms: r6(ae.details.rms[j]!),
        })),
        maps: Object.fromEntries([...r.maps].map(([m, a]) => {
          const record = explainerFor(m).record;
          return [m, Array.from({ length: inputs.n }, (_, i) => ({
            image: i, target: a.targets[i], class: names[a.targets[i]!], p: r6(a.pBefore[i]!),
            map: arr6(a.maps.subarray(i * P, (i + 1) * P)),
            ...Object.fromEntries(Object.entries(record?.(a, i) ?? {}).map(([k, x]) => [k, reportValue(x)])),
          }))];
        })),
      };
    }),
  };
  const pngFile = path.join(args.out, 'explain.png');
  const jsonFile = path.join(args.out, 'explain.json');
  writeIntoOutDir(args.out, () => {
    writeFileAtomic(pngFile, png);
    writeJsonAtomic(jsonFile, json);
  });

  for (const [k, r] of results.entries()) {
    const names = r.classNames;
    if (results.length > 1) console.log(`${labels[k]}:`);
    const ae = r.ae;
    if (ae !== null) {
      r.pairs.forEach((pr, j) => {
        const d = ae.details;
        console.log(`  ${inputs.names[pr.image]} ${pr.kind.padEnd(6)} ${names[pr.target]!.padEnd(11)} p ${ae.pBefore[j]!.toFixed(3)} -> ${d.pAfter[j]!.toFixed(3)}  rms ${d.rms[j]!.toFixed(4)}  now ${names[d.classAfter[j]!]}`);
      });
    }
  }
  console.log(`wrote ${pngFile} and ${jsonFile}`);
}
