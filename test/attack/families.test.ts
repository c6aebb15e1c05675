// The two attack families' contract, shown with attacks written in a few lines against the bases on the tiny
// linear model: the base owns batching (results independent of the batch size), epsilons, success, clipping and
// (minimisation) distances; plus the criteria and norm objects on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, liveTensors, manualSeed, setNumThreads, where, zerosLike, type Tensor } from '../../src/engine/index.js';
import {
  FixedEpsilonAttack, MinimizationAttack, Misclassification, TargetedMisclassification, TrueClassProbabilityAtMost,
  RMS, L2, LINF, NORMS, type AttackContext, type BatchOutcome,
} from '../../src/attack/index.js';
import { linearProblem, rng, logits64, argmax, rms } from './linear-model.js';

setNumThreads(1);

const B = 6, C = 3, H = 2, W = 2, D = C * H * W, K = 4;
const problem = (seed: number) => linearProblem(seed, B, { C, H, W, K });

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

/** A fixed-ε attack in a few lines: L∞ steps of ε/2 along the gradient's sign, projected, never clipped by itself. */
class SignSteps extends FixedEpsilonAttack<{ adv: Tensor }> {
  readonly name = 'sign-steps';
  readonly norm = LINF;
  get steps(): number { return 3; }
  protected init(ctx: AttackContext) { return { adv: ctx.x.clone() }; }
  protected step(ctx: AttackContext, s: { adv: Tensor }) {
    const { grad } = ctx.gradient(s.adv.sub(ctx.x));
    return { adv: ctx.x.add(ctx.project(s.adv.add(this.norm.normalise(grad).mul(ctx.eps / 2)).sub(ctx.x))) };
  }
}

interface ScanState { dir: Tensor; best: Tensor; found: Tensor }
/**
 * A minimisation attack in a few lines: δ_k = (k/T)·budget·d along the clean image's normalised gradient d,
 * k = 1 … T, keeping the first (smallest) adversarial one. It reports neither success nor distances: the base does.
 */
class Scan extends MinimizationAttack<ScanState> {
  readonly name = 'scan';
  readonly norm = RMS;
  get steps(): number { return 8; }
  get budget(): number { return 2; }
  protected init(ctx: AttackContext): ScanState {
    const dir = RMS.normalise(ctx.gradient(zerosLike(ctx.x)).grad);
    return { dir, best: zerosLike(ctx.x), found: ctx.classes.ne(ctx.classes) };
  }
  protected step(ctx: AttackContext, s: ScanState, t: number): ScanState {
    const cand = s.dir.mul(((t + 1) / this.steps) * ctx.eps);
    const fresh = ctx.isAdversarial(ctx.logits(ctx.x.add(cand))).logicalAnd(s.found.logicalNot());
    return { dir: s.dir, best: where(fresh.reshape([-1, 1, 1, 1]), cand, s.best), found: s.found.logicalOr(fresh) };
  }
  protected override finish(ctx: AttackContext, s: ScanState): BatchOutcome {
    return { adv: ctx.x.add(s.best) };
  }
}

test('fixed-ε base: one run per ε, batching, success from the criterion, and the final clipping', () => {
  const { m, labels, input } = problem(31);
  const epsilons = [0, 0.05, 0.4];
  const before = liveTensors();
  const unclipped = new SignSteps(null).run(m, input, new Misclassification(labels), { epsilons, batch: 6 });
  const a = new SignSteps([0, 1]).run(m, input, new Misclassification(labels), { epsilons, batch: 6 });
  const b = new SignSteps([0, 1]).run(m, input, new Misclassification(labels), { epsilons, batch: 4 });
  assert.equal(liveTensors(), before, 'run() frees everything it makes');
  assert.deepEqual(a.epsilons, epsilons);
  assert.equal(a.images!.length, 3);
  epsilons.forEach((e, k) => {
    close(b.images![k]!, a.images![k]!, 1e-6, `batch 4 vs 6 at ε ${e}`);
    assert.deepEqual(b.success[k], a.success[k]);
    // The attack never clips: the base clamps its final image, and only that.
    close(a.images![k]!, Array.from(unclipped.images![k]!, (v) => Math.min(1, Math.max(0, v))), 0, `clipped at ε ${e}`);
    for (let i = 0; i < B; i++) {
      const img = Array.from(a.images![k]!.subarray(i * D, (i + 1) * D));
      const x = input.floats().subarray(i * D, (i + 1) * D);
      assert.ok(img.every((v, j) => v >= 0 && v <= 1 && Math.abs(v - x[j]!) <= e * (1 + 1e-6)), `in bounds and in the ε-ball, ε ${e} sample ${i}`);
      assert.equal(a.success[k]![i], argmax(logits64(m, img)) !== labels[i] ? 1 : 0, `success ε ${e} sample ${i}`);
    }
  });
  close(a.images![0]!, input.floats(), 0, 'ε = 0 returns the clean images');
  assert.ok(unclipped.images![2]!.some((v) => v < 0 || v > 1), 'at ε 0.4 the unclipped attack leaves [0, 1]');
  assert.ok(a.success[2]!.some((v) => v === 1), 'ε 0.4 breaks some images');
  // attackBatch is the same run on one batch, and reads the criterion's classes from the offset.
  tidy(() => {
    const x = tensor(input.floats().subarray(2 * D, 5 * D), [3, C, H, W]);
    const r = new SignSteps([0, 1]).attackBatch(m, x, new Misclassification(labels), 0.4, { offset: 2 });
    close(r.adv.data(), a.images![2]!.subarray(2 * D, 5 * D), 1e-6, 'attackBatch at offset 2');
    assert.deepEqual(Array.from(r.success!.cast('uint8').data()), Array.from(a.success[2]!.subarray(2, 5)));
    assert.equal(new SignSteps(null).attackBatch(m, x, new Misclassification(labels), 0.4, { computeSuccess: false }).success, null);
  });
  assert.throws(() => new SignSteps(null).run(m, input, new Misclassification(labels)), /needs at least one epsilon/);
});

test('minimisation base: distances in the attack\'s norm, Infinity when not found, success at ε = distance ≤ ε, batching', () => {
  const { m, labels, input } = problem(32);
  const epsilons = [0, 0.1, 0.3, 10];
  const before = liveTensors();
  const a = new Scan(null).run(m, input, new Misclassification(labels), { epsilons, batch: 6 });
  const b = new Scan(null).run(m, input, new Misclassification(labels), { epsilons, batch: 4 });
  assert.equal(liveTensors(), before, 'run() frees everything it makes');
  assert.equal(a.budget, 2);
  close(b.distances, a.distances, 1e-6, 'distances batch 4 vs 6');
  let found = 0;
  for (let i = 0; i < B; i++) {
    const img = Array.from(a.raw!.subarray(i * D, (i + 1) * D));
    const x = Array.from(input.floats().subarray(i * D, (i + 1) * D));
    const adversarial = argmax(logits64(m, img)) !== labels[i];
    if (adversarial) {
      found++;
      // The distance is the RMS of the returned perturbation, on the scan's grid of budget·k/T.
      close([a.distances[i]!], [rms(img.map((v, j) => v - x[j]!))], 1e-6, `distance ${i}`);
      const k = (a.distances[i]! / 2) * 8;
      assert.ok(Math.abs(k - Math.round(k)) < 1e-4 && k > 0.5, `on the grid: k = ${k}`);
    } else {
      assert.equal(a.distances[i], Infinity, `sample ${i} not found`);
      close(img, x, 0, `clean image back for sample ${i}`);
    }
    epsilons.forEach((e, k) => assert.equal(a.success[k]![i], a.distances[i]! <= e ? 1 : 0, `success ε ${e} sample ${i}`));
    assert.equal(a.firstCrossing[i], -1, 'not tracked by this attack');
  }
  assert.ok(found >= 3, `the budget finds most samples (${found})`);
  tidy(() => {
    const r = new Scan(null).attackBatch(m, tensor(input.floats(), [B, C, H, W]), new Misclassification(labels));
    assert.deepEqual(Array.from(r.success.cast('uint8').data()), Array.from(a.distances, (d) => (d < Infinity ? 1 : 0)));
  });
});

test('criteria: classes, direction, and the adversarial decision from logits', () => {
  const labels = Int32Array.from([0, 1, 2]);
  tidy(() => {
    const logits = tensor(Float32Array.from([2, 1, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 3, 0, 0]), [3, 4]);
    const cls = tensor(labels, [3]).cast('int64');
    const bits = (t: Tensor): number[] => Array.from(t.cast('uint8').data());
    const mis = new Misclassification(labels);
    assert.equal(mis.classes, labels);
    assert.equal(mis.targeted, false);
    // argmax of the tie [0, 0, 0, 0] is 0 (first), so sample 1 (label 1) counts as misclassified.
    assert.deepEqual(bits(mis.isAdversarial(logits, cls)), [0, 1, 1]);
    const tgt = new TargetedMisclassification(labels);
    assert.equal(tgt.targeted, true);
    assert.deepEqual(bits(tgt.isAdversarial(logits, cls)), [1, 0, 0]);
    // p(label) ≤ 1/K by default: the uniform row sits exactly on the boundary.
    const btr = new TrueClassProbabilityAtMost(labels);
    assert.equal(btr.targeted, false);
    assert.deepEqual(bits(btr.isAdversarial(logits, cls)), [0, 1, 1]);
    // p(0) of [2, 1, 0, 0] is e²/(e² + e + 2) ≈ 0.61.
    assert.deepEqual(bits(new TrueClassProbabilityAtMost(labels, 0.6).isAdversarial(logits, cls)), [0, 1, 1]);
    assert.deepEqual(bits(new TrueClassProbabilityAtMost(labels, 0.62).isAdversarial(logits, cls)), [1, 1, 1]);
  });
  assert.throws(() => new TrueClassProbabilityAtMost(labels, 0), /p must be in \(0, 1\]/);
  assert.throws(() => new TrueClassProbabilityAtMost(labels, 1.5), /p must be in \(0, 1\]/);
});

test('norms: unit steepest-ascent step, projection into the ε-ball (identity inside), random start inside', () => {
  manualSeed(7);
  const before = liveTensors();
  tidy(() => {
    const r = rng(3);
    const g = tensor(Float32Array.from({ length: 2 * D }, () => r() * 2 - 1), [2, C, H, W]);
    for (const norm of [RMS, L2, LINF]) {
      assert.equal(NORMS[norm.name], norm);
      close(norm.distance(norm.normalise(g)).data(), [1, 1], 1e-5, `${norm.name}: ‖normalise(g)‖ = 1`);
      const eps = 0.25 * norm.distance(g).data()[0]!;
      const p = norm.project(g, eps).data();
      const sizes = norm.distance(norm.project(g, eps)).data();
      for (const s of sizes) assert.ok(s <= eps * (1 + 1e-6), `${norm.name}: projected ${s} ≤ ${eps}`);
      close(norm.project(g, 1e3).data(), g.data(), 1e-6, `${norm.name}: identity inside the ball`);
      assert.ok(p.some((v, i) => v !== g.data()[i]), `${norm.name}: moves what is outside`);
      const start = norm.randomStart([5, C, H, W], eps);
      assert.deepEqual(start.shape, [5, C, H, W]);
      for (const s of norm.distance(start).data()) assert.ok(s <= eps * (1 + 1e-6), `${norm.name}: random start ${s} ≤ ${eps}`);
    }
  });
  assert.equal(liveTensors(), before);
});
