// advexp explain-eval: how faithful each explanation method is, over N records, per model. For adversarial
// explanations: the share of targets whose probability passes 0.5 within ρ (target reach). For every method that
// gives a map: deletion and insertion AUC (Petsiuk et al. 2018) of the map of the predicted class; the AE map is
// |δ| summed over channels of the AE for the predicted class. "random" (seeded random maps) is the chance level.
import path from 'node:path';
import { parse, intArg, requireArg } from './args.js';
import {
  openModel, openData, applyThreads, modelChoices, dataOptions, classCount, MODEL_FLAGS, MODEL_FLAG_HELP, type ModelChoices, listArg, checkOutput, STDOUT, shortModelName,
  explainerFlags, explainerFlagHelp, methodOptions, optionSettings, withLayerErrors,
} from './common.js';
import { UserError, asUserError } from './errors.js';
import { tensor, tidy, type Tensor } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import {
  explain, explainerNames, expandTargets, parseTargetSpecs, probabilities, argmaxExcept,
  type AnyExplainOptions, type OptionsOf, type TargetSpec,
} from '../explain/index.js';
import { deletionInsertion, randomMaps, targetReach, type TargetReach } from '../metrics/faithfulness.js';
import { mean, standardError } from '../metrics/stats.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';

const help = (): string => `usage: advexp explain-eval [--model FILE]... --data PATH [options]
Faithfulness of explanations over N images of a data set (file order from --offset), per model:
AE target reach (share of AE targets whose probability passes 0.5 within RMS ρ) and, for every method, deletion
AUC (lower = more faithful) and insertion AUC (higher = more faithful) of its map for the predicted class.

  --data PATH          CIFAR-10 batch (e.g. data_batch_5.bin), its directory or tarball, or an image folder
  --offset K           first record (default 0)       --n N   records (default 100)
  --model FILE         repeatable (default: the shipped model)
  --methods LIST       ${[...explainerNames(), 'random'].join(',')} (default: all)
  --ae-targets LIST    targets whose reach is measured: all, true, second or class numbers (default all)
${explainerFlagHelp()}
  --step P             pixels removed/inserted per point (default H·W/32: 33 points)
  --threads T          libtorch threads (default: all cores)
  --json OUT           every number, per image (- : to stdout)
  --md OUT             the table as markdown
  --quiet              no progress bar
${MODEL_FLAG_HELP}`;

/** "random": seeded random maps, the chance level of deletion/insertion. */
const RANDOM = 'random';

export interface MethodRow {
  model: string;
  method: string;
  n: number;
  /** AE only: share of target pairs with p_after > 0.5, over all pairs and over targets ≠ the predicted class. */
  reach?: number | undefined;
  reachWrong?: number | undefined;
  pairs?: number | undefined;
  meanRms?: number | undefined;
  deletion: number;
  deletionSe: number;
  insertion: number;
  insertionSe: number;
  seconds: number;
}

export function markdownTable(rows: readonly MethodRow[]): string {
  const f = (v: number | undefined, d = 3): string => (v === undefined ? '–' : v.toFixed(d));
  const lines = [
    '| model | method | N | AE reach (all targets) | AE reach (wrong targets) | deletion AUC ↓ | insertion AUC ↑ | seconds |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${shortModelName(r.model)} | ${r.method} | ${r.n} | ${f(r.reach)} | ${f(r.reachWrong)} | `
      + `${f(r.deletion)} ± ${f(r.deletionSe)} | ${f(r.insertion)} ± ${f(r.insertionSe)} | ${r.seconds.toFixed(0)} |`);
  }
  return lines.join('\n') + '\n';
}

/** What `advexp explain-eval` was asked to do, checked before any work. */
export interface ExplainEvalArgs {
  data: string;
  offset: number;
  n: number;
  /** Pixels per deletion/insertion point; null: H·W/32. */
  step: number | null;
  /** Model files; undefined: the shipped model. */
  models: (string | undefined)[];
  /** Registered methods and/or 'random', in the order given. */
  methods: string[];
  aeTargets: string;
  /** Each explainer's options, from its flags. */
  options: Map<string, AnyExplainOptions>;
  ae: OptionsOf<'ae'> | null;
  threads: string | undefined;
  json: string | undefined;
  md: string | undefined;
  quiet: boolean;
  model: ModelChoices;
}

/** The command line as ExplainEvalArgs (one-line UserErrors); null when --help was printed. */
export function readArgs(argv: string[]): ExplainEvalArgs | null {
  const { values: v } = parse(argv, {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, offset: { type: 'string' }, n: { type: 'string' },
    methods: { type: 'string' }, 'ae-targets': { type: 'string' }, step: { type: 'string' },
    threads: { type: 'string' }, json: { type: 'string' }, md: { type: 'string' }, quiet: { type: 'boolean' }, ...MODEL_FLAGS, ...explainerFlags(),
  });
  if (v.help) { console.log(help()); return null; }
  const data = requireArg(v.data, 'data');
  const n = intArg(v.n, 'n', 100, 1);
  const offset = intArg(v.offset, 'offset', 0, 0);
  const step = v.step === undefined ? null : intArg(v.step, 'step', 32, 1);
  const all = [...explainerNames(), RANDOM];
  const methods = listArg(v.methods, 'methods', all, all);
  const aeTargets = v['ae-targets'] ?? 'all';
  asUserError(() => parseTargetSpecs(aeTargets, Number.MAX_SAFE_INTEGER, 'ae-targets'));
  const explained = methods.filter((m) => m !== RANDOM);
  return {
    data, offset, n, step, models: v.model ?? [undefined], methods, aeTargets,
    options: new Map(explained.map((m) => [m, methodOptions(m, v)] as const)),
    ae: explained.includes('ae') ? methodOptions('ae', v) : null,
    threads: v.threads, json: v.json, md: v.md, quiet: v.quiet === true, model: modelChoices(v),
  };
}

/**
 * The AE row: an AE for every measured (image, target) pair and for each image's predicted class (whose |δ| map
 * the deletion/insertion metric then scores); target reach over the measured pairs; the per-pair numbers.
 */
function aeReach(model: Module, x: Tensor, probs: Float32Array, pred: Int32Array, labels: Int32Array, specs: TargetSpec[],
  options: OptionsOf<'ae'>, label: string, quiet: boolean): { maps: Float32Array; reach: TargetReach; pairs: unknown[] } {
  const n = pred.length;
  const [, , H, W] = x.shape as [number, number, number, number];
  const pairs = expandTargets(probs, probs.length / n, labels, specs);
  const measured = pairs.length;
  for (let i = 0; i < n; i++) if (!pairs.some((p) => p.image === i && p.target === pred[i])) pairs.push({ image: i, target: pred[i]!, kind: 'given' });
  const bar = new Progress({ label, total: pairs.length * (options.steps ?? 0), unit: 'img-step', quiet });
  const xs = x.indexSelect(0, tensor(Int32Array.from(pairs, (p) => p.image), [pairs.length]).cast('int64'));
  const a = withLayerErrors(() => explain(model, xs, Int32Array.from(pairs, (p) => p.target), { ...options, onStep: (k: number) => bar.tick(k) }));
  bar.finish();
  const ae = a.details;
  const reach = targetReach(ae.pAfter.subarray(0, measured), ae.rms.subarray(0, measured), pairs.slice(0, measured).map((p) => p.target !== pred[p.image]));
  const P = H * W;
  const maps = new Float32Array(n * P);
  pairs.forEach((p, j) => { if (p.target === pred[p.image]) maps.set(a.maps.subarray(j * P, (j + 1) * P), p.image * P); });
  return {
    maps, reach,
    pairs: pairs.slice(0, measured).map((p, j) => ({ image: p.image, target: p.target, p_before: a.pBefore[j], p_after: ae.pAfter[j], rms: ae.rms[j] })),
  };
}

export function run(argv: string[]): void {
  const args = readArgs(argv);
  if (args === null) return;
  const { data: dataPath, n, offset, step } = args;
  if (args.json !== undefined && args.json !== STDOUT) checkOutput(args.json, 'json', 'file');
  if (args.md !== undefined) checkOutput(args.md, 'md', 'file');
  const say = args.json === STDOUT ? console.error : console.log;
  applyThreads(args.threads);

  const rows: MethodRow[] = [];
  const perImage: Record<string, unknown>[] = [];
  let scored = 0;
  for (const mf of args.models) {
    const m = openModel(mf, args.model.overrides);
    const { model, file } = m;
    try {
      const all = openData(dataPath, { ...dataOptions(m, args.model.resize), limit: offset + n });
      if (all.n < offset + n) throw new UserError(`${dataPath}: --n ${n} from record ${offset}, but only ${Math.max(0, all.n - offset)} record(s) are there`);
      const set = offset === 0 ? all : all.subset(Array.from({ length: n }, (_, i) => offset + i), dataPath);
      scored = set.n;
      const K = classCount(m, set.shape);
      const specs = (() => {
        return asUserError(() => parseTargetSpecs(args.aeTargets, K, 'ae-targets'));
      })();
      tidy(() => {
        const x = set.batch(0, set.n);
        const probs = tidy(() => probabilities(model, x).data());
        const pred = Int32Array.from({ length: set.n }, (_, i) => argmaxExcept(probs.subarray(i * K, (i + 1) * K), -1));
        let correct = 0;
        pred.forEach((p, i) => { if (p === set.labels[i]) correct++; });
        say(`${shortModelName(file)}: accuracy ${(correct / set.n).toFixed(3)} on records ${offset}..${offset + set.n - 1} of ${dataPath}`);
        const methods: Record<string, unknown> = {};
        for (const m of args.methods) {
          const t0 = performance.now();
          let maps: Float32Array;
          let reach: TargetReach | undefined;
          const extra: Record<string, unknown> = {};
          if (m === RANDOM) {
            maps = randomMaps(set.n, set.height * set.width, 12345);
          } else if (m === 'ae' && args.ae !== null) {
            const ae = aeReach(model, x, probs, pred, set.labels, specs, args.ae, `${shortModelName(file)} ae`, args.quiet);
            ({ maps, reach } = ae);
            extra.pairs = ae.pairs;
          } else {
            const o = args.options.get(m)!;
            maps = withLayerErrors(() => explain(model, x, pred, o)).maps;
          }
          const f = deletionInsertion(model, x, pred, maps, step === null ? {} : { step });
          const r: MethodRow = {
            model: file, method: m, n: set.n, ...reach,
            deletion: mean(f.deletion), deletionSe: standardError(f.deletion), insertion: mean(f.insertion), insertionSe: standardError(f.insertion),
            seconds: (performance.now() - t0) / 1000,
          };
          rows.push(r);
          methods[m] = { ...extra, deletion: Array.from(f.deletion), insertion: Array.from(f.insertion) };
          say(`  ${m.padEnd(10)} ${r.reach !== undefined ? `reach ${r.reach.toFixed(3)} (wrong targets ${r.reachWrong?.toFixed(3) ?? '-'}, mean RMS ${r.meanRms!.toFixed(4)})  ` : ''}`
            + `deletion ${r.deletion.toFixed(3)} ± ${r.deletionSe.toFixed(3)}  insertion ${r.insertion.toFixed(3)} ± ${r.insertionSe.toFixed(3)}  ${r.seconds.toFixed(0)} s`);
        }
        const record = { model: file, accuracy: correct / set.n, predictions: Array.from(pred), methods };
        perImage.push(record);
      });
    } finally {
      model.dispose();
    }
  }
  const table = markdownTable(rows);
  say('\n' + table);
  const settings = {
    data: path.resolve(dataPath), offset, n: scored, step, ae_targets: args.aeTargets,
    ...Object.fromEntries([...args.options].map(([m, o]) => [m, optionSettings(o)])),
  };
  if (args.md !== undefined) writeFileAtomic(args.md, table);
  if (args.json === STDOUT) process.stdout.write(JSON.stringify({ settings, rows, models: perImage }, null, 1) + '\n');
  else if (args.json !== undefined) writeJsonAtomic(args.json, { settings, rows, models: perImage });
}
