// AutoAttack, standard version (Croce & Hein 2020): APGD-CE, APGD-T (targeted DLR, 9 targets), FAB-T
// (9 targets) and Square (5000 queries), each run only on the samples no earlier attack has broken, each
// seeded (0) at every batch, all at one ε in L∞ or L2, images in [0, 1]. A sample counts as broken by FAB-T
// only when its minimal adversarial image is within ε. Samples already adversarial when clean are not attacked.
import { Tensor, tidy, noGrad } from '../engine/index.js';
import type { Module } from '../nn/index.js';
import { FixedEpsilonAttack, type AttackContext, type BatchAttackResult, type BatchOptions, type BatchOutcome } from './base.js';
import type { Criterion } from './criteria.js';
import { NORMS, type Norm } from './norms.js';
import { APGD } from './apgd.js';
import { FAB } from './fab.js';
import { Square } from './square.js';
import { restrictCriterion, indicesWhere, indexTensor } from './losses.js';

export type AutoAttackPart = 'apgd-ce' | 'apgd-t' | 'fab-t' | 'square';
export const AUTOATTACK_STANDARD: readonly AutoAttackPart[] = ['apgd-ce', 'apgd-t', 'fab-t', 'square'];

export interface AutoAttackOptions {
  norm: 'linf' | 'l2';
  /** The attacks in order (default the standard version's four). */
  attacks?: readonly AutoAttackPart[];
  /** Seed of every randomised attack (default 0). */
  seed?: number;
  /** Square's queries (default 5000); APGD/FAB iterations (default 100): smaller only for tests. */
  squareQueries?: number;
  iterations?: number;
  /** Target classes of APGD-T and FAB-T (default 9). */
  targets?: number;
}

export class AutoAttack extends FixedEpsilonAttack<{ adv: Tensor }> {
  readonly name: string;
  readonly norm: Norm;
  readonly attacks: readonly AutoAttackPart[];
  readonly seed: number;
  readonly #norm: 'linf' | 'l2';
  readonly #queries: number;
  readonly #iterations: number;
  readonly #targets: number;
  /** Samples each attack broke, summed over the batches since the last resetCounts(). */
  broken: Record<string, number> = {};

  constructor(opts: AutoAttackOptions) {
    super([0, 1]);
    if (opts.norm !== 'linf' && opts.norm !== 'l2') throw new Error(`autoattack: norm must be 'linf' or 'l2', got '${String(opts.norm)}'`);
    this.#norm = opts.norm;
    this.norm = NORMS[opts.norm];
    this.attacks = [...(opts.attacks ?? AUTOATTACK_STANDARD)];
    for (const a of this.attacks) if (!AUTOATTACK_STANDARD.includes(a)) throw new Error(`autoattack: unknown attack '${a}' (${AUTOATTACK_STANDARD.join(', ')})`);
    this.seed = opts.seed ?? 0;
    this.#queries = opts.squareQueries ?? 5000;
    this.#iterations = opts.iterations ?? 100;
    this.#targets = opts.targets ?? 9;
    this.name = `autoattack-${opts.norm}`;
    this.resetCounts();
  }

  resetCounts(): void { this.broken = Object.fromEntries(this.attacks.map((a) => [a, 0])); }

  /** Image-steps per sample at most (progress): APGD-CE, 9 APGD-T runs, 9 FAB-T runs, Square's queries. */
  get steps(): number {
    const n = { 'apgd-ce': this.#iterations, 'apgd-t': this.#targets * this.#iterations, 'fab-t': this.#targets * this.#iterations, square: this.#queries } as const;
    return this.attacks.reduce((s, a) => s + n[a], 0);
  }

  protected override validate(eps: number): void {
    if (!(eps > 0) || !Number.isFinite(eps)) throw new Error(`${this.name}: eps must be finite and > 0, got ${eps}`);
  }

  protected init(): { adv: Tensor } { throw new Error('autoattack runs its attacks in attackBatch'); }
  protected step(_c: AttackContext, s: { adv: Tensor }): { adv: Tensor } { return s; }
  protected override finish(_c: AttackContext, s: { adv: Tensor }): BatchOutcome { return { adv: s.adv }; }

  override attackBatch(model: Module, x: Tensor, criterion: Criterion, eps: number, opts: BatchOptions & { computeSuccess?: boolean } = {}): BatchAttackResult {
    if (criterion.targeted) throw new Error(`${this.name}: untargeted only (APGD-T and FAB-T pick their own targets)`);
    this.validate(eps);
    const offset = opts.offset ?? 0;
    const B = x.shape[0]!;
    return tidy(() => {
      const classes = indexTensor(Array.from(criterion.classes.subarray(offset, offset + B)));
      let success = noGrad(() => criterion.isAdversarial(model.call(x), classes));
      let adv = x.clone();
      for (const part of this.attacks) {
        const idx = indicesWhere(success, false);
        if (idx.length === 0) break;
        [adv, success] = tidy(() => {
          const it = indexTensor(idx);
          const xs = x.index(it);
          const sub = restrictCriterion(criterion, idx.map((i) => offset + i));
          const o = { offset: 0, onStep: opts.onStep };
          let r: BatchAttackResult;
          if (part === 'fab-t') {
            const fab = new FAB({ norm: this.#norm, eps, steps: this.#iterations, targets: this.#targets });
            r = fab.attackBatch(model, xs, sub, o);
            r = { ...r, success: r.success!.logicalAnd(fab.norm.distance(r.delta).le(eps)) };
          } else {
            const a = part === 'square'
              ? new Square({ norm: this.#norm, queries: this.#queries, seed: this.seed })
              : new APGD({ norm: this.#norm, loss: part === 'apgd-ce' ? 'ce' : 'dlr-targeted', steps: this.#iterations, targets: this.#targets, seed: this.seed });
            r = a.attackBatch(model, xs, sub, eps, o);
          }
          const won = r.success!;
          this.broken[part] = (this.broken[part] ?? 0) + indicesWhere(won).length;
          const put = it.index(won);
          return [adv.indexPut(put, r.adv.index(won)), success.indexPut(put, won.index(won))];
        });
      }
      return { adv, delta: adv.sub(x), success };
    });
  }
}
