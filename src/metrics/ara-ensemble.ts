// The ensemble ARA: per image the smallest misclassifying perturbation found by the paper's routine (RMS, never
// clamped, as METHOD.md §4 defines it), DDN and FMN (L2 in [0, 1], as their authors define them), every distance
// as RMS over the C·H·W values (L2/√(C·H·W)). The paper's Attack ARA and the ensemble's side by side show how
// much the paper's one routine overstates robustness; each attack's share of the minima says which found them.
import { inEval, type Module } from '../nn/index.js';
import type { AttackInput } from '../attack/base.js';
import { inputShape } from '../data/dataset.js';
import { Misclassification } from '../attack/criteria.js';
import { DDN } from '../attack/ddn.js';
import { FMN } from '../attack/fmn.js';
import { araDistances, araOf, type AraOptions, type AraValue } from './ara.js';

export const ENSEMBLE_ATTACKS = ['paper', 'ddn', 'fmn'] as const;
export type EnsembleAttack = typeof ENSEMBLE_ATTACKS[number];

export interface EnsembleAra {
  /** Per attack and for the ensemble: RMS distance per image (Infinity where the attack found none). */
  distances: Record<EnsembleAttack | 'ensemble', Float64Array>;
  /** Per attack: share of the images (clean-correct ones) whose minimum it attains (ties count for each). */
  shares: Record<EnsembleAttack, number>;
  ara: { paper: AraValue; ensemble: AraValue };
}

export interface EnsembleOptions extends AraOptions {
  /** Steps of DDN and FMN (default 1000). */
  minSteps?: number;
  /** The paper routine's distances when already computed (Attack ARA), to spare the run. */
  paperDistances?: Float64Array;
  numClasses?: number;
}

/** The three attacks' RMS distances per image (Infinity where one found none); batches of `batch` in order, deterministic. */
export function ensembleDistances(model: Module, inputs: AttackInput, labels: Int32Array, opts: EnsembleOptions = {}): Record<EnsembleAttack, Float64Array> {
  const { channels, height, width } = inputShape(inputs);
  const root = Math.sqrt(channels * height * width);
  const paper = opts.paperDistances ?? araDistances(model, inputs, labels, 'attack', opts).distances;
  const crit = new Misclassification(labels);
  const run = (a: DDN | FMN): Float64Array => inEval(model, () => {
    const r = a.run(model, inputs, crit, { batch: opts.batch ?? 128, keepImages: false, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    return r.distances.map((d) => d / root);
  });
  const steps = opts.minSteps ?? 1000;
  return { paper, ddn: run(new DDN({ steps })), fmn: run(new FMN({ steps })) };
}

export function ensembleAra(model: Module, inputs: AttackInput, labels: Int32Array, opts: EnsembleOptions = {}): EnsembleAra {
  return ensembleSummary(ensembleDistances(model, inputs, labels, opts), opts.numClasses ?? 10, opts.eps ?? 20);
}

/**
 * Per image the minimum, each attack's share of the minima, and both ARA values. `budget`: the distance an image
 * the paper's routine never broke counts as (its ε: a lower bound), since without the guard it is Infinity.
 */
export function ensembleSummary(d: Record<EnsembleAttack, Float64Array>, K: number, budget: number): EnsembleAra {
  const { paper, ddn, fmn } = d;
  const n = paper.length;
  const ensemble = Float64Array.from({ length: n }, (_, i) => Math.min(paper[i]!, ddn[i]!, fmn[i]!));
  const shares = { paper: 0, ddn: 0, fmn: 0 };
  let counted = 0;
  for (let i = 0; i < n; i++) {
    if (!(ensemble[i]! > 0)) continue;
    counted++;
    for (const a of ENSEMBLE_ATTACKS) if (d[a][i] === ensemble[i]) shares[a]++;
  }
  for (const a of ENSEMBLE_ATTACKS) shares[a] /= Math.max(1, counted);
  const capped = (v: Float64Array): Float64Array => v.map((x) => (Number.isFinite(x) ? x : budget));
  return { distances: { paper, ddn, fmn, ensemble }, shares, ara: { paper: araOf(capped(paper), K), ensemble: araOf(capped(ensemble), K) } };
}
