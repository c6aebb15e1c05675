// advexp eval: clean accuracy, Attack and BTR ARA (METHOD.md §6), accuracy-vs-RMS curves, PGD robust accuracy at
// RobustBench's points, JSON and plots. Thin: parsing and printing; the work is in metrics/ and report/.
import path from 'node:path';
import { parse, intArg, numArg, requireArg } from './args.js';
import { openModel, applyThreads, listArg, checkOutput, modelChoices, dataOptions, classCount, MODEL_FLAGS, MODEL_FLAG_HELP, STDOUT, modelLabels } from './common.js';
import type { LoadOptions } from '../data/load.js';
import { classNamesOf } from '../io/model-file.js';
import { UserError, asUserError } from './errors.js';
import { recordRange, seededRecords, heldOutImages, type Count, type Selection } from '../data/select.js';
import { predict, accuracy } from '../metrics/predict.js';
import { araDistances, araOf, araAbove, accuracyCurve, ARA_NAMES, ARA_TYPES, type AraType } from '../metrics/ara.js';
import { clinicalMetrics, formatClinical, type ClinicalMetrics } from '../metrics/clinical.js';
import { robustBenchPgd, ROBUSTBENCH_EPS } from '../metrics/robust-accuracy.js';
import { AttackGuardError } from '../attack/paper.js';
import { accuracyPlotSvg, araFigure } from '../report/plot.js';
import { accuracyPlotPng } from '../report/plot-png.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { Progress } from '../report/progress.js';
import { DIST_FLAGS, DIST_HELP, launchOrJoin } from './launch.js';
import type { ProcessGroup } from '../engine/index.js';
import type { ImageDataset } from '../data/dataset.js';
import type { Module } from '../nn/index.js';
import { parseAutoAttack, robustWork, runRobust, robustLines, type RobustResults } from './eval-robust.js';

const HELP = `usage: advexp eval [--model FILE]... --data PATH [options]
Clean accuracy, Attack and BTR ARA (the paper's accuracy-robustness area, exact and 1000-bin histogram),
accuracy-vs-RMS curves and PGD robust accuracy (L-inf 8/255, L2 0.5) of one or more models, in eval mode.
Clinical metrics beside them: balanced accuracy, per-class recall, the confusion matrix, ROC AUC for two classes,
and the ARA above the majority-class rate (for two classes BTR ARA equals Attack ARA and is computed once).
Without --model the shipped default model is used; repeat --model to compare models on one plot.

  --data PATH        CIFAR-10 batch file(s) (e.g. data_batch_5.bin, test_batch.bin), their directory or tarball, or
                     an image folder (one sub-folder per class); with --split, the run's data as given to advexp train
  --n N              number of images (default 1000, or all when fewer), the first N in file order from --offset
  --offset K         first record (default 0)
  --seed S           instead: a seeded random subset of N records of the whole file (libtorch randperm; with
                     test_batch.bin and --seed 1776 these are the reference code's images), reported in file order
  --split FILE       instead: the first N held-out validation images of a training run (its split.json), so a
                     model is scored on images it never trained on
  --ara TYPES        attack,btr (default), attack, btr or none; add ensemble for the Attack ARA over the minimum
                     of the routine, DDN and FMN per image (each attack's share of the minima)
  --min-steps S      steps of DDN and FMN in the ensemble (default 1000)
  --autoattack SPECS AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square) robust accuracy, e.g. linf (8/255),
                     l2 (0.5), linf:4/255,l2:0.25; per-image flags and a RobustBench-style record in the JSON
  --steps T          steps of the attack routine (default 450)
  --eps E            the routine's budget (default 20)
  --momentum M       (default 0.9)
  --pgd NORMS        linf,l2 (default), linf, l2 or none
  --pgd-steps S      PGD steps (default 40 for L-inf, 50 for L2, as Foolbox)
  --batch B          images per batch (default 128)
  --threads T        libtorch threads (default: all cores)
  --json OUT         write the results as JSON (- : to stdout; the summary table then goes to stderr)
  --plot OUT         accuracy vs RMS perturbation plot; .svg or .png by extension; repeatable
  --quiet            no progress bar
${MODEL_FLAG_HELP}

${DIST_HELP}
  Evaluation is sharded: the images are dealt to the ranks in whole batches and the per-image results gathered in
  file order, the same numbers as one process (PGD's random starts are seeded per image; AutoAttack's batches of
  clean-correct images are seeded alike; DDN and FMN are deterministic).`;

interface ModelEval {
  model: string;
  n: number;
  accuracy: number;
  /** Balanced accuracy, per-class recall, confusion matrix, ROC AUC (K = 2). */
  clinical: ClinicalMetrics;
  classNames: string[];
  /** ARA above the majority-class share instead of 1/K (exact), per type. */
  araMajority: Partial<Record<AraType, number>>;
  ara: Partial<Record<AraType, { exact: number; histogram: number }>>;
  distances: Partial<Record<AraType, number[]>>;
  curves: Partial<Record<AraType, { eps: number[]; accuracy: number[] }>>;
  pgd: Partial<Record<'linf' | 'l2', { eps: number; steps: number; accuracy: number }>>;
  robust: RobustResults;
  seconds: number;
}

/** The images to score, as chosen by --split, --seed or --offset/--n; the data layer's errors as one-line UserErrors. */
function selectImages(dataPath: string, n: Count, offset: number, seed: number | undefined, splitFile: string | undefined, opts: LoadOptions): Selection {
  return asUserError(() => {
    if (splitFile !== undefined) return heldOutImages(splitFile, dataPath, n, opts);
    return seed === undefined ? recordRange(dataPath, offset, n, opts) : seededRecords(dataPath, n, seed, opts);
  });
}

/** A rank's share of the images: whole batches of the one-process batching, and its labels. */
function shardOf(set: ImageDataset, indices: number[]): { sub: ImageDataset; labels: Int32Array } {
  return { sub: set.subset(indices), labels: Int32Array.from(indices, (i) => set.labels[i]!) };
}

/** Predicted classes of every image; with a process group each rank predicts its batches and all are gathered. */
function classesOf(model: Module, set: ImageDataset, batch: number, pg: ProcessGroup | null): Int32Array {
  if (pg === null) return predict(model, set, { batch }).classes;
  const mine = pg.blocks(set.n, batch);
  const local = predict(model, shardOf(set, mine).sub, { batch }).classes;
  return Int32Array.from(pg.gatherIndexed(set.n, mine, local));
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, n: { type: 'string' }, offset: { type: 'string' },
    seed: { type: 'string' }, split: { type: 'string' }, ara: { type: 'string' }, steps: { type: 'string' }, eps: { type: 'string' },
    momentum: { type: 'string' }, pgd: { type: 'string' }, 'pgd-steps': { type: 'string' }, batch: { type: 'string' },
    threads: { type: 'string' }, json: { type: 'string' }, plot: { type: 'string', multiple: true }, quiet: { type: 'boolean' }, ...MODEL_FLAGS,
    autoattack: { type: 'string' }, 'min-steps': { type: 'string' },
    ...DIST_FLAGS,
  });
  if (values.help) { console.log(HELP); return; }
  const dataPath = requireArg(values.data, 'data');
  const n: Count = values.n === undefined ? { atMost: 1000 } : intArg(values.n, 'n', 1000, 1);
  const offset = intArg(values.offset, 'offset', 0, 0);
  const seed = values.seed === undefined ? undefined : intArg(values.seed, 'seed', 0, 0);
  if (seed !== undefined && values.offset !== undefined) throw new UserError('--seed and --offset cannot be combined');
  const splitFile = values.split;
  if (splitFile !== undefined && (seed !== undefined || values.offset !== undefined)) throw new UserError('--split cannot be combined with --seed or --offset');
  const araList = listArg(values.ara, 'ara', [...ARA_TYPES, 'ensemble'] as const, ARA_TYPES, { none: true });
  const types = araList.filter((t): t is AraType => t !== 'ensemble');
  const ensemble = araList.includes('ensemble');
  const minSteps = intArg(values['min-steps'], 'min-steps', 1000, 1);
  const aaSpecs = parseAutoAttack(values.autoattack);
  const steps = intArg(values.steps, 'steps', 450, 1);
  const eps = numArg(values.eps, 'eps', 20);
  if (!(eps > 0)) throw new UserError(`--eps: must be > 0, got '${values.eps}'`);
  const momentum = numArg(values.momentum, 'momentum', 0.9);
  if (!(momentum >= 0 && momentum < 1)) throw new UserError(`--momentum: must be in [0, 1), got '${values.momentum}'`);
  const norms = listArg(values.pgd, 'pgd', ['linf', 'l2'], ['linf', 'l2'], { none: true });
  const pgdSteps = values['pgd-steps'] === undefined ? undefined : intArg(values['pgd-steps'], 'pgd-steps', 0, 1);
  const batch = intArg(values.batch, 'batch', 128, 1);
  const plots = values.plot ?? [];
  for (const p of plots) {
    if (!/\.(svg|png)$/i.test(p)) throw new UserError(`--plot ${p}: the file name must end in .svg or .png`);
    checkOutput(p, 'plot', 'file');
  }
  if (plots.length > 0 && types.length === 0) throw new UserError('--plot needs at least one ARA type (--ara attack,btr)');
  const json = values.json;
  if (json !== undefined && json !== STDOUT) checkOutput(json, 'json', 'file');
  const modelFiles = values.model ?? [undefined];
  const choices = modelChoices(values);
  const role = await launchOrJoin('eval', argv, values);
  if (role.kind === 'launched') {
    process.exitCode = role.exitCode;
    return;
  }
  const pg = role.kind === 'rank' ? role.pg : null;
  try {
    await evaluateAll(pg);
  } catch (e) {
    pg?.reportFailure((e as Error).message);
    throw e;
  } finally {
    pg?.destroy();
  }

  async function evaluateAll(pg: ProcessGroup | null): Promise<void> {
    const root = pg === null || pg.isRoot;
    const threads = applyThreads(values.threads ?? (role.kind === 'rank' ? String(role.perRankThreads) : undefined));

    // The images, brought to each model's input (one read per distinct input; models usually share it).
    const selections = new Map<string, Selection>();
    const imagesFor = (m: ReturnType<typeof openModel>): Selection => {
      const opts = dataOptions(m, choices.resize);
      const key = JSON.stringify(opts);
      let sel = selections.get(key);
      if (sel === undefined) selections.set(key, sel = selectImages(dataPath, n, offset, seed, splitFile, opts));
      return sel;
    };
    const pgdWork = norms.reduce((s, nm) => s + (pgdSteps ?? (nm === 'linf' ? 40 : 50)), 0);
    const extraWork = robustWork(aaSpecs, ensemble, minSteps) + (ensemble && !types.includes('attack') ? steps : 0);
    let bar: Progress | null = null;
    let ticked = 0;
    // Rank 0's bar stands for all ranks: its own work times the number of ranks.
    const scale = pg?.world ?? 1;
    const onStep = (b: number): void => { ticked += b * scale; bar?.tick(b * scale); };

    const results: ModelEval[] = [];
    let numClasses = 0;
    let first: Selection | null = null;
    for (const mf of modelFiles) {
      const m = openModel(mf, choices.overrides);
      const { model, file } = m;
      const t0 = performance.now();
      try {
        const { set, records } = imagesFor(m);
        first ??= { set, records };
        const perModel = set.n * (types.length * steps + pgdWork + extraWork);
        bar ??= new Progress({ label: 'eval', total: modelFiles.length * perModel, unit: 'img-step', quiet: values.quiet === true || !root });
        numClasses = classCount(m, set.shape);
        const bad = set.labels.find((l) => l >= numClasses);
        if (bad !== undefined) throw new UserError(`${dataPath}: label ${bad}, but ${path.basename(file)} has ${numClasses} classes`);
        // One process: predictions with logits for K = 2 (the AUC ranks images by the margin z₁ − z₀, monotone in p₁
        // and never saturated); sharded: the gathered classes (no AUC).
        const pr = pg === null ? predict(model, set, { batch: Math.max(batch, 256), logits: numClasses === 2 }) : null;
        const classes = pr?.classes ?? classesOf(model, set, Math.max(batch, 256), pg);
        const acc = accuracy(classes, set.labels);
        const margin = pr?.logits ? Float64Array.from({ length: set.n }, (_, i) => pr.logits![2 * i + 1]! - pr.logits![2 * i]!) : undefined;
        const clinical = clinicalMetrics(set.labels, classes, numClasses, margin);
        const r: ModelEval = {
          model: file, n: set.n, accuracy: acc, clinical, classNames: classNamesOf(m, numClasses, set.classNames), araMajority: {},
          ara: {}, distances: {}, curves: {}, pgd: {}, robust: { autoattack: [] }, seconds: 0,
        };
        for (const type of types) {
          let d: Float64Array;
          const mine = pg?.blocks(set.n, batch) ?? null;
          // Two classes: p(true) ≤ 1/2 is misclassification, so BTR's distances are Attack's (computed once).
          if (type === 'btr' && numClasses === 2 && r.distances.attack !== undefined) d = Float64Array.from(r.distances.attack);
          else try {
            if (mine === null) d = araDistances(model, set, set.labels, type, { steps, eps, momentum, batch, onStep }).distances;
            else {
              const { sub, labels } = shardOf(set, mine);
              d = pg!.gatherIndexed(set.n, mine, araDistances(model, sub, labels, type, { steps, eps, momentum, batch, onStep }).distances);
            }
          } catch (e) {
            if (e instanceof AttackGuardError) {
              const recs = e.samples.slice(0, 5).map((j) => mine?.[j] ?? j).map((i) => (records ? records[i]! : offset + i));
              throw new UserError(`${path.basename(file)}, ${type} ARA: record(s) ${recs.join(', ')}${e.samples.length > 5 ? ', …' : ''} did not cross the boundary within ${Math.floor(steps / 2)} steps: increase --eps or --steps`);
            }
            throw e;
          }
          r.ara[type] = araOf(d, numClasses);
          r.araMajority[type] = araAbove(d, clinical.majorityRate);
          r.distances[type] = Array.from(d);
          r.curves[type] = accuracyCurve(d);
        }
        if (norms.length > 0) {
          const stepOpt = pgdSteps !== undefined ? { steps: pgdSteps } : {};
          if (pg === null) {
            const pgd = robustBenchPgd(model, set, set.labels, { norms, batch, seed: 0, onStep, ...stepOpt });
            for (const nm of norms) r.pgd[nm] = { eps: ROBUSTBENCH_EPS[nm], steps: pgd[nm]!.steps, accuracy: pgd[nm]!.accuracy[0]! };
          } else {
            // The clean-correct images (which one process would attack) dealt in that process's batches; each keeps
            // its index in the set as the key of its random start.
            const correct: number[] = [];
            for (let i = 0; i < set.n; i++) if (classes[i] === set.labels[i]) correct.push(i);
            const mine = pg.blocks(correct.length, batch).map((j) => correct[j]!);
            const { sub, labels } = shardOf(set, mine);
            const pgd = mine.length > 0 ? robustBenchPgd(model, sub, labels, { norms, batch, seed: 0, onStep, imageKeys: mine, ...stepOpt }) : null;
            const robust = pg.allreduceNumbers(norms.map((nm) => Math.round((pgd?.[nm]!.accuracy[0] ?? 0) * mine.length)));
            norms.forEach((nm, k) => {
              r.pgd[nm] = { eps: ROBUSTBENCH_EPS[nm], steps: pgdSteps ?? (nm === 'linf' ? 40 : 50), accuracy: robust[k]! / Math.max(1, set.n) };
            });
          }
        }
        if (aaSpecs.length > 0 || ensemble) {
          r.robust = runRobust(model, file, set, aaSpecs, ensemble, { batch, minSteps, steps, eps, momentum, numClasses, onStep,
            paper: r.distances.attack ? Float64Array.from(r.distances.attack) : undefined, pg, classes });
        }
        // PGD attacks only the clean-correct images: account for the rest so the bar ends at its total.
        const due = perModel * (results.length + 1) - ticked;
        if (due > 0) onStep(due);
        r.seconds = (performance.now() - t0) / 1000;
        results.push(r);
      } finally {
        model.dispose();
      }
    }
    bar?.finish();
    if (!root) return;
    const { set, records } = first!;

    // Summary.
    const fmt = (v: number | undefined, d = 4): string => (v === undefined ? '-' : v.toFixed(d));
    const say = json === STDOUT ? console.error : console.log;
    const which = splitFile !== undefined ? ` (held-out images of ${splitFile})` : records ? ` (seed ${seed})` : offset ? ` from record ${offset}` : '';
    say(`${set.n} records of ${dataPath}${which}; routine: ${steps} steps, eps ${eps}, momentum ${momentum}`);
    say('model                              accuracy  Attack ARA (hist)    BTR ARA (hist)       PGD Linf 8/255  PGD L2 0.5');
    const labels = modelLabels(results.map((r) => r.model));
    results.forEach((r, i) => {
      say(`${labels[i]!.padEnd(34)} ${fmt(r.accuracy).padEnd(9)} ${`${fmt(r.ara.attack?.exact)} (${fmt(r.ara.attack?.histogram)})`.padEnd(20)} `
        + `${`${fmt(r.ara.btr?.exact)} (${fmt(r.ara.btr?.histogram)})`.padEnd(20)} ${fmt(r.pgd.linf?.accuracy).padEnd(15)} ${fmt(r.pgd.l2?.accuracy)}`);
    });
    results.forEach((r, i) => {
      say(`${labels[i]}:`);
      for (const line of formatClinical(r.clinical, r.classNames)) say(`  ${line}`);
      const maj = (Object.keys(r.araMajority) as AraType[]).map((t) => `${ARA_NAMES[t]} ${fmt(r.araMajority[t])}`);
      if (maj.length > 0) say(`  ARA above the majority rate ${fmt(r.clinical.majorityRate)} (instead of 1/${numClasses}): ${maj.join(', ')}`);
      // BTR's criterion p(true) ≤ 1/K is p(true) ≤ ½ for two classes: exactly a misclassification (ties aside).
      if (numClasses === 2 && r.ara.attack && r.ara.btr) say('  K = 2: BTR (p(true) ≤ 1/2) is misclassification, so BTR ARA = Attack ARA (computed once)');
    });
    for (const r of results) for (const line of robustLines(r.model, r.robust)) say(line);

    // Outputs: everything is computed; write atomically, and let Ctrl-C wait until the files are complete.
    // (A JS handler defers the signal until this synchronous code returns: the files are then whole.)
    const onSignal = (): void => process.exit(130);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const settings = { steps, eps, momentum, overshoot: 1, batch, threads, pgd_seed: 0, ...(ensemble ? { min_steps: minSteps } : {}), data: path.resolve(dataPath), ...(splitFile !== undefined ? { split: path.resolve(splitFile) } : records ? { seed } : { offset }) };
    const one = (r: ModelEval): Record<string, unknown> => ({
      model: r.model, n: r.n, accuracy: r.accuracy, balanced_accuracy: r.clinical.balancedAccuracy, recall: r.clinical.recall,
      support: r.clinical.support, confusion: r.clinical.confusion, majority_rate: r.clinical.majorityRate, class_names: r.classNames,
      image_shape: [set.channels, set.height, set.width],
      ...(numClasses === 2 ? { auc: r.clinical.auc } : {}), ara_majority: r.araMajority, ara: r.ara, distances: r.distances, curves: r.curves, pgd: r.pgd,
      ...(r.robust.autoattack.length > 0 ? { autoattack: r.robust.autoattack } : {}), ...(r.robust.ensemble ? { ara_ensemble: r.robust.ensemble } : {}),
      ...(records ? { records } : {}), seconds: r.seconds,
    });
    if (json !== undefined) {
      const value = results.length === 1 ? { ...one(results[0]!), settings } : { models: results.map(one), settings };
      if (json === STDOUT) process.stdout.write(JSON.stringify(value, null, 1) + '\n');
      else writeJsonAtomic(json, value);
    }
    if (plots.length > 0) {
      const { series, opts } = araFigure(results.map((r, i) => ({ label: labels[i]!, distances: r.distances })), { numClasses, imageSize: set.imageSize, images: `${set.n} images` });
      for (const p of plots) {
        writeFileAtomic(p, /\.png$/i.test(p) ? accuracyPlotPng(series, opts) : accuracyPlotSvg(series, opts));
      }
    }
  }
}
