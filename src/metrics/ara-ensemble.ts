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

export function ensembleAra(model: Module, inputs: AttackInput, labels: Int32Array, opts: EnsembleOptions = {}): EnsembleAra {
  const { channels, height, width } = inputShape(inputs);
  const root = Math.sqrt(channels * height * width);
  const paper = opts.paperDistances ?? araDistances(model, inputs, labels, 'attack', opts).distances;
  const crit = new Misclassification(labels);
  const run = (a: DDN | FMN): Float64Array => inEval(model, () => {
    const r = a.run(model, inputs, crit, { batch: opts.batch ?? 128, keepImages: false, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    return r.distances.map((d) => d / root);
  });
  const steps = opts.minSteps ?? 1000;
  const ddn = run(new DDN({ steps }));
  const fmn = run(new FMN({ steps }));
  const n = paper.length;
  const ensemble = Float64Array.from({ length: n }, (_, i) => Math.min(paper[i]!, ddn[i]!, fmn[i]!));
  const per = { paper, ddn, fmn };
  const shares = { paper: 0, ddn: 0, fmn: 0 };
  let counted = 0;
  for (let i = 0; i < n; i++) {
    if (!(ensemble[i]! > 0)) continue;
    counted++;
    for (const a of ENSEMBLE_ATTACKS) if (per[a][i] === ensemble[i]) shares[a]++;
  }
  for (const a of ENSEMBLE_ATTACKS) shares[a] /= Math.max(1, counted);
  const K = opts.numClasses ?? 10;
  // Without the guard an image the routine never broke has distance Infinity: it counts as robust up to the
  // routine's budget (a lower bound) in the ARA values.
  const capped = (d: Float64Array): Float64Array => d.map((v) => (Number.isFinite(v) ? v : opts.eps ?? 20));
  return { distances: { paper, ddn, fmn, ensemble }, shares, ara: { paper: araOf(capped(paper), K), ensemble: araOf(capped(ensemble), K) } };
}
