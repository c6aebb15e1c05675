// eval's AutoAttack (--autoattack) and ensemble ARA (--ara ensemble) parts: option parsing, the runs and the lines
// they print, kept here so eval.ts only wires them in.
import path from 'node:path';
import { UserError } from './errors.js';
import type { Module } from '../nn/index.js';
import type { ImageDataset } from '../data/dataset.js';
import type { ProcessGroup } from '../engine/index.js';
import { autoAttackAccuracy, autoAttackOn, autoAttackRecord, AUTOATTACK_DEFAULT_EPS, type AutoAttackRecord } from '../metrics/autoattack.js';
import { ensembleAra, ensembleDistances, ensembleSummary, ENSEMBLE_ATTACKS, type EnsembleAra } from '../metrics/ara-ensemble.js';

export interface AutoAttackSpec { norm: 'linf' | 'l2'; eps: number }

/** --autoattack NORM[:EPS][,…]: linf (8/255) or l2 (0.5); EPS a number or a fraction such as 8/255. */
export function parseAutoAttack(v: string | undefined): AutoAttackSpec[] {
  if (v === undefined || v === 'none') return [];
  return v.split(',').map((item) => {
    const [norm, e] = item.trim().split(':') as [string, string | undefined];
    if (norm !== 'linf' && norm !== 'l2') throw new UserError(`--autoattack: unknown norm '${norm}' (expected linf or l2, e.g. linf:8/255,l2:0.5)`);
    if (e === undefined || e === '') return { norm, eps: AUTOATTACK_DEFAULT_EPS[norm] };
    const m = /^([0-9.]+)(?:\/([0-9.]+))?$/.exec(e);
    const eps = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
    if (!(eps > 0) || !Number.isFinite(eps)) throw new UserError(`--autoattack: ε must be a number > 0 (or a fraction like 8/255), got '${e}'`);
    return { norm, eps };
  });
}

/** The work one image costs (image-steps, at most), for the progress bar. */
export function robustWork(specs: AutoAttackSpec[], ensemble: boolean, minSteps: number): number {
  return specs.length * (100 + 900 + 900 + 5000) + (ensemble ? 2 * minSteps : 0);
}

export interface RobustResults { autoattack: (AutoAttackRecord & { model: string })[]; ensemble?: Omit<EnsembleAra, 'distances'> & { distances: Record<string, number[]> } }

/**
 * AutoAttack per spec and the ensemble ARA of one model. With a process group the work is dealt in whole batches
 * (AutoAttack: of the clean-correct images, as one process batches them; the ensemble: of all images) and the
 * per-image flags and distances gathered: the same record as one process (every batch is seeded alike, DDN and FMN
 * are deterministic). `classes`: every image's prediction (gathered), needed when sharded.
 */
export function runRobust(model: Module, file: string, set: ImageDataset, specs: AutoAttackSpec[], ensemble: boolean,
  o: { batch: number; minSteps: number; steps: number; eps: number; momentum: number; paper?: Float64Array | undefined; numClasses: number; onStep: (n: number) => void;
    pg?: ProcessGroup | null; classes?: Int32Array }): RobustResults {
  const out: RobustResults = { autoattack: [] };
  const pg = o.pg ?? null;
  for (const s of specs) {
    if (pg === null) {
      out.autoattack.push({ model: file, ...autoAttackAccuracy(model, set, set.labels, s.norm, s.eps, { batch: o.batch, onStep: o.onStep }) });
      continue;
    }
    const t0 = performance.now();
    const clean = Array.from(o.classes!, (c, i) => (c === set.labels[i] ? 1 : 0));
    const correct = clean.flatMap((v, i) => (v ? [i] : []));
    const mine = pg.blocks(correct.length, o.batch).map((j) => correct[j]!);
    const on = autoAttackOn(model, set, set.labels, mine, s.norm, s.eps, { batch: o.batch, onStep: o.onStep });
    const flags = pg.gatherIndexed(set.n, mine, on.robust);
    const robust = Array.from(flags, (v) => (v === 1 ? 1 : 0));
    const names = Object.keys(on.broken);
    const summed = pg.allreduceNumbers(names.map((k) => on.broken[k]!));
    const broken = Object.fromEntries(names.map((k, i) => [k, summed[i]!]));
    out.autoattack.push({ model: file, ...autoAttackRecord(s.norm, s.eps, clean, robust, broken, (performance.now() - t0) / 1000) });
  }
  if (ensemble) {
    const opts = {
      steps: o.steps, eps: o.eps, momentum: o.momentum, batch: o.batch, minSteps: o.minSteps, numClasses: o.numClasses, onStep: o.onStep,
    };
    let e: EnsembleAra;
    if (pg === null) e = ensembleAra(model, set, set.labels, { ...opts, ...(o.paper ? { paperDistances: o.paper } : {}) });
    else {
      const mine = pg.blocks(set.n, o.batch);
      const sub = set.subset(mine);
      const labels = Int32Array.from(mine, (i) => set.labels[i]!);
      const paper = o.paper ? Float64Array.from(mine, (i) => o.paper![i]!) : undefined;
      const d = ensembleDistances(model, sub, labels, { ...opts, ...(paper ? { paperDistances: paper } : {}) });
      const all = Object.fromEntries(ENSEMBLE_ATTACKS.map((a) => [a, pg.gatherIndexed(set.n, mine, d[a])])) as Record<typeof ENSEMBLE_ATTACKS[number], Float64Array>;
      e = ensembleSummary(all, o.numClasses, o.eps);
    }
    // Infinity (no adversarial found) is written as null in JSON.
    const dist = Object.fromEntries(Object.entries(e.distances).map(([k, d]) => [k, Array.from(d)]));
    out.ensemble = { shares: e.shares, ara: e.ara, distances: dist };
  }
  return out;
}

/** The summary lines of one model. */
export function robustLines(file: string, r: RobustResults): string[] {
  const lines: string[] = [];
  const name = path.basename(file);
  for (const a of r.autoattack) {
    const eps = a.norm === 'linf' ? `${(a.eps * 255).toFixed(2).replace(/\.?0+$/, '')}/255` : String(a.eps);
    const by = Object.entries(a.broken).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`${name}: AutoAttack ${a.norm === 'linf' ? 'Linf' : 'L2'} ${eps}: clean ${a.clean_acc.toFixed(4)}, robust ${a.autoattack_acc.toFixed(4)} (${a.n} images; broken by ${by}; ${a.seconds.toFixed(0)} s)`);
  }
  if (r.ensemble) {
    const e = r.ensemble;
    const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
    lines.push(`${name}: Attack ARA paper routine ${e.ara.paper.exact.toFixed(4)}, ensemble (paper, DDN, FMN) ${e.ara.ensemble.exact.toFixed(4)}; `
      + `minima found by paper ${pct(e.shares.paper)}, DDN ${pct(e.shares.ddn)}, FMN ${pct(e.shares.fmn)}`);
  }
  return lines;
}
