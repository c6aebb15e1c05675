// advexp explain-eval: how faithful each explanation method is, over N records, per model. For adversarial
// explanations: the share of targets whose probability passes 0.5 within ρ (target reach). For every method that
// gives a map: deletion and insertion AUC (Petsiuk et al. 2018) of the map of the predicted class; the AE map is
// |δ| summed over channels of the AE for the predicted class. "random" (seeded random maps) is the chance level.
import path from 'node:path';
import { parse, intArg, requireArg } from './args.js';
import {
  openModel, openData, applyThreads, modelChoices, dataOptions, classCount, MODEL_FLAGS, MODEL_FLAG_HELP, type ModelChoices, listArg, checkOutput, STDOUT, modelLabels, defaultModelPath,
  explainerFlags, explainerFlagHelp, methodOptions, optionSettings, withLayerErrors,
} from './common.js';
import { UserError, asUserError } from './errors.js';
import { DIST_FLAGS, DIST_HELP, launchOrJoin, type DistValues } from './launch.js';
import { tensor, tidy, type Tensor, type ProcessGroup } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import {
  explain, explainerNames, expandTargets, parseTargetSpecs, probabilities, argmaxExcept,
  type AnyExplainOptions, type OptionsOf, type TargetSpec,
} from '../explain/index.js';
import { deletionInsertion, randomMaps, targetReach } from '../metrics/faithfulness.js';
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
  --batch B            images per batch (default 16); with several ranks, whole batches are dealt to them
  --threads T          libtorch threads (default: all cores)
  --json OUT           every number, per image (- : to stdout)
  --md OUT             the table as markdown
  --quiet              no progress bar
${MODEL_FLAG_HELP}

${DIST_HELP}
  Ranks take whole batches and the per-image numbers are gathered in file order: the same table and JSON as one
  process (seeded draws are keyed on an image's index in the set, not its place in a batch).`;

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
  const models = [...new Set(rows.map((r) => r.model))];
  const names = modelLabels(models);
  const label = new Map(models.map((m, i) => [m, names[i]!]));
  for (const r of rows) {
    lines.push(`| ${label.get(r.model)} | ${r.method} | ${r.n} | ${f(r.reach)} | ${f(r.reachWrong)} | `
      + `${f(r.deletion)} ± ${f(r.deletionSe)} | ${f(r.insertion)} ± ${f(r.insertionSe)} | ${r.seconds.toFixed(0)} |`);
  }
  return lines.join('\n') + '\n';
}

/** What `advexp explain-eval` was asked to do, checked before any work. */
export interface ExplainEvalArgs {
  data: string;
  offset: number;
  n: number;
  /** Images per batch (the unit dealt to ranks). */
  batch: number;
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
  /** --nproc, --nnodes and the other launch flags. */
  dist: DistValues;
}

/** The command line as ExplainEvalArgs (one-line UserErrors); null when --help was printed. */
export function readArgs(argv: string[]): ExplainEvalArgs | null {
  const { values: v } = parse(argv, {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, offset: { type: 'string' }, n: { type: 'string' },
    methods: { type: 'string' }, 'ae-targets': { type: 'string' }, step: { type: 'string' },
    threads: { type: 'string' }, json: { type: 'string' }, md: { type: 'string' }, quiet: { type: 'boolean' }, batch: { type: 'string' },
    ...MODEL_FLAGS, ...explainerFlags(), ...DIST_FLAGS,
  });
  if (v.help) { console.log(help()); return null; }
  const data = requireArg(v.data, 'data');
  const n = intArg(v.n, 'n', 100, 1);
  const offset = intArg(v.offset, 'offset', 0, 0);
  const batch = intArg(v.batch, 'batch', 16, 1);
  const step = v.step === undefined ? null : intArg(v.step, 'step', 32, 1);
  const all = [...explainerNames(), RANDOM];
  const methods = listArg(v.methods, 'methods', all, all);
  const aeTargets = v['ae-targets'] ?? 'all';
  asUserError(() => parseTargetSpecs(aeTargets, Number.MAX_SAFE_INTEGER, 'ae-targets'));
  const explained = methods.filter((m) => m !== RANDOM);
  return {
    data, offset, n, batch, step, models: v.model ?? [undefined], methods, aeTargets,
    options: new Map(explained.map((m) => [m, methodOptions(m, v)] as const)),
    ae: explained.includes('ae') ? methodOptions('ae', v) : null,
    threads: v.threads, json: v.json, md: v.md, quiet: v.quiet === true, model: modelChoices(v),
    dist: Object.fromEntries(Object.keys(DIST_FLAGS).map((k) => [k, (v as Record<string, string | undefined>)[k]])),
  };
}

/** One batch's AE work: an AE for every measured (image, target) pair and for each image's predicted class (whose
 * |δ| map the deletion/insertion metric then scores). Pairs carry their image's index in the whole set. */
function aeBatch(model: Module, x: Tensor, probs: Float32Array, pred: Int32Array, labels: Int32Array, first: number, specs: TargetSpec[],
  options: OptionsOf<'ae'>): { maps: Float32Array; pairs: AePair[] } {
  const n = pred.length;
  const [, , H, W] = x.shape as [number, number, number, number];
  const pairs = expandTargets(probs, probs.length / n, labels, specs);
  const measured = pairs.length;
  for (let i = 0; i < n; i++) if (!pairs.some((p) => p.image === i && p.target === pred[i])) pairs.push({ image: i, target: pred[i]!, kind: 'given' });
  const a = tidy(() => {
    const xs = x.indexSelect(0, tensor(Int32Array.from(pairs, (p) => p.image), [pairs.length]).cast('int64'));
    return withLayerErrors(() => explain(model, xs, Int32Array.from(pairs, (p) => p.target), options));
  });
  const P = H * W;
  const maps = new Float32Array(n * P);
  pairs.forEach((p, j) => { if (p.target === pred[p.image]) maps.set(a.maps.subarray(j * P, (j + 1) * P), p.image * P); });
  return {
    maps,
    pairs: pairs.slice(0, measured).map((p, j) => ({
      image: first + p.image, target: p.target, wrong: p.target !== pred[p.image], p_before: a.pBefore[j]!, p_after: a.details.pAfter[j]!, rms: a.details.rms[j]!,
    })),
  };
}

/** One measured AE pair, as the JSON lists it (`wrong`: the target is not the predicted class). */
interface AePair { image: number; target: number; wrong: boolean; p_before: number; p_after: number; rms: number }

export async function run(argv: string[]): Promise<void> {
  const args = readArgs(argv);
  if (args === null) return;
  if (args.json !== undefined && args.json !== STDOUT) checkOutput(args.json, 'json', 'file');
  if (args.md !== undefined) checkOutput(args.md, 'md', 'file');
  const role = await launchOrJoin('explain-eval', argv, args.dist);
  if (role.kind === 'launched') {
    process.exitCode = role.exitCode;
    return;
  }
  const pg = role.kind === 'rank' ? role.pg : null;
  try {
    evaluate(args, pg, role.kind === 'rank' ? role.perRankThreads : undefined);
  } catch (e) {
    pg?.reportFailure((e as Error).message);
    throw e;
  } finally {
    pg?.destroy();
  }
}

/**
 * The images in batches of --batch; with a process group, whole batches dealt to the ranks (ProcessGroup.blocks)
 * and the per-image numbers gathered in file order. Seeded draws are keyed on an image's index in the set (LIME's
 * masks and SmoothGrad's noise through `firstImage`, deletion/insertion's tie order through the seed, the random
 * maps drawn for the whole set), so the numbers are the same however the set is split.
 */
function evaluate(args: ExplainEvalArgs, pg: ProcessGroup | null, perRankThreads: number | undefined): void {
  const { data: dataPath, n, offset, step, batch } = args;
  const root = pg === null || pg.isRoot;
  const say = !root ? (): void => {} : args.json === STDOUT ? console.error : console.log;
  applyThreads(args.threads ?? (perRankThreads === undefined ? undefined : String(perRankThreads)));
  const world = pg?.world ?? 1;

  const rows: MethodRow[] = [];
  const perImage: Record<string, unknown>[] = [];
  let scored = 0;
  // The table's names, also in the progress lines: two runs' model.safetensors stay apart.
  const labels = modelLabels(args.models.map((f) => f ?? defaultModelPath()));
  for (const [mi, mf] of args.models.entries()) {
    const name = labels[mi]!;
    const m = openModel(mf, args.model.overrides);
    const { model, file } = m;
    try {
      const all = openData(dataPath, { ...dataOptions(m, args.model.resize), limit: offset + n });
      if (all.n < offset + n) throw new UserError(`${dataPath}: --n ${n} from record ${offset}, but only ${Math.max(0, all.n - offset)} record(s) are there`);
      const set = offset === 0 ? all : all.subset(Array.from({ length: n }, (_, i) => offset + i), dataPath);
      scored = set.n;
      const K = classCount(m, set.shape);
      const P = set.height * set.width;
      const specs = asUserError(() => parseTargetSpecs(args.aeTargets, K, 'ae-targets'));
      // This rank's batches [start, end); one process: all of them.
      const mine = pg?.blocks(set.n, batch) ?? Array.from({ length: set.n }, (_, i) => i);
      const batches: [number, number][] = [];
      for (let j = 0; j < mine.length; j += batch) batches.push([mine[j]!, mine[Math.min(mine.length, j + batch) - 1]! + 1]);
      const probs = new Map<number, Float32Array>();
      const predLocal: number[] = [];
      for (const [s, e] of batches) {
        const p = tidy(() => probabilities(model, set.batch(s, e)).data());
        probs.set(s, p);
        for (let i = 0; i < e - s; i++) predLocal.push(argmaxExcept(p.subarray(i * K, (i + 1) * K), -1));
      }
      const pred = pg === null ? Int32Array.from(predLocal) : Int32Array.from(pg.gatherIndexed(set.n, mine, predLocal));
      let correct = 0;
      pred.forEach((p, i) => { if (p === set.labels[i]) correct++; });
      say(`${name}: accuracy ${(correct / set.n).toFixed(3)} on records ${offset}..${offset + set.n - 1} of ${dataPath}`);
      const methods: Record<string, unknown> = {};
      for (const method of args.methods) {
        const t0 = performance.now();
        const bar = new Progress({ label: `${name} ${method}`, total: set.n, unit: 'img', quiet: args.quiet || !root });
        const deletion: number[] = [], insertion: number[] = [];
        const pairs: AePair[] = [];
        const random = method === RANDOM ? randomMaps(set.n, P, 12345) : null;
        for (const [s, e] of batches) {
          const predB = pred.subarray(s, e);
          tidy(() => {
            const x = set.batch(s, e);
            let maps: Float32Array;
            if (random !== null) maps = random.subarray(s * P, e * P);
            else if (method === 'ae' && args.ae !== null) {
              const ae = aeBatch(model, x, probs.get(s)!, predB, set.labels.subarray(s, e), s, specs, args.ae);
              maps = ae.maps;
              pairs.push(...ae.pairs);
            } else {
              maps = withLayerErrors(() => explain(model, x, predB, { ...args.options.get(method)!, firstImage: s })).maps;
            }
            const f = deletionInsertion(model, x, predB, maps, { seed: s, ...(step === null ? {} : { step }) });
            deletion.push(...f.deletion);
            insertion.push(...f.insertion);
          });
          bar.tick((e - s) * world);
        }
        bar.finish();
        const del = pg === null ? Float64Array.from(deletion) : pg.gatherIndexed(set.n, mine, deletion);
        const ins = pg === null ? Float64Array.from(insertion) : pg.gatherIndexed(set.n, mine, insertion);
        const allPairs = pg === null ? pairs : gatherPairs(pg, pairs);
        const reach = method === 'ae' && args.ae !== null
          ? targetReach(allPairs.map((p) => p.p_after), allPairs.map((p) => p.rms), allPairs.map((p) => p.wrong)) : undefined;
        const r: MethodRow = {
          model: file, method, n: set.n, ...reach,
          deletion: mean(del), deletionSe: standardError(del), insertion: mean(ins), insertionSe: standardError(ins),
          seconds: (performance.now() - t0) / 1000,
        };
        rows.push(r);
        methods[method] = {
          ...(reach ? { pairs: allPairs.map(({ wrong: _w, ...p }) => p) } : {}), deletion: Array.from(del), insertion: Array.from(ins),
        };
        say(`  ${method.padEnd(10)} ${r.reach !== undefined ? `reach ${r.reach.toFixed(3)} (wrong targets ${r.reachWrong?.toFixed(3) ?? '-'}, mean RMS ${r.meanRms!.toFixed(4)})  ` : ''}`
          + `deletion ${r.deletion.toFixed(3)} ± ${r.deletionSe.toFixed(3)}  insertion ${r.insertion.toFixed(3)} ± ${r.insertionSe.toFixed(3)}  ${r.seconds.toFixed(0)} s`);
      }
      perImage.push({ model: file, accuracy: correct / set.n, predictions: Array.from(pred), methods });
    } finally {
      model.dispose();
    }
  }
  if (!root) return;
  const table = markdownTable(rows);
  say('\n' + table);
  const settings = {
    data: path.resolve(dataPath), offset, n: scored, step, batch, ranks: world, ae_targets: args.aeTargets,
    ...Object.fromEntries([...args.options].map(([m, o]) => [m, optionSettings(o)])),
  };
  if (args.md !== undefined) writeFileAtomic(args.md, table);
  if (args.json === STDOUT) process.stdout.write(JSON.stringify({ settings, rows, models: perImage }, null, 1) + '\n');
  else if (args.json !== undefined) writeJsonAtomic(args.json, { settings, rows, models: perImage });
}

/** Every rank's AE pairs, in the one-process order: by image, and for an image in its target order. */
function gatherPairs(pg: ProcessGroup, pairs: AePair[]): AePair[] {
  const all = pg.allgatherBytes(new TextEncoder().encode(JSON.stringify(pairs)))
    .flatMap((b) => JSON.parse(new TextDecoder().decode(b)) as AePair[]);
  return all.sort((a, b) => a.image - b.image); // stable: an image's pairs keep their order
}
