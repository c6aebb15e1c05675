// The paper's routine (METHOD.md §4) against a float64 plain-JS oracle on a linear classifier, whose input
// gradient is known in closed form: every rule of the routine (follow / step back, RMS normalisation, momentum,
// ramp, overshoot, smallest crossing iterate over δ₀…δ_T, the guard, no clamping) is exercised step by step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, liveTensors, setNumThreads } from '../../src/engine/index.js';
import {
  PaperBudgetAttack, PaperMinimalAttack, AttackGuardError, Misclassification, TrueClassProbabilityAtMost, TargetedMisclassification,
} from '../../src/attack/index.js';
import { makeLinear, rng, logits64, softmax64, ceGrad64, argmax, rms, type LinearNet, floatImages } from './linear-model.js';

setNumThreads(1);

type Mode = 'budget' | 'misclassify' | 'btr';
interface OracleOut { delta: number[]; firstOk: number; found: boolean }

/** METHOD.md §4 for one sample, in float64, written out from the text. */
function oracle(m: LinearNet, x: number[], t: number, o: { mode: Mode; eps: number; steps: number; overshoot?: number; momentum?: number; encourage?: boolean; affected?: boolean }): OracleOut {
  const D = x.length, T = o.steps, over = o.overshoot ?? 1, mu = o.momentum ?? 0;
  let delta = new Array<number>(D).fill(0);
  let mom = new Array<number>(D).fill(0);
  let best: number[] | null = null;
  let bestSq = Infinity;
  let firstOk = -1;
  const minimise = o.mode !== 'budget';
  for (let s = 0; s <= T; s++) {
    if (s === T && !minimise) break;
    const xa = x.map((v, j) => v + delta[j]!);
    const z = logits64(m, xa);
    const sq = delta.reduce((a, v) => a + v * v, 0) / D;
    const follow = o.mode === 'budget' ? sq < o.eps * o.eps
      : o.mode === 'misclassify' ? argmax(z) === t
        : softmax64(z)[t]! > 1 / z.length;
    if (!follow && firstOk < 0) firstOk = s;
    if (minimise && !follow && sq < bestSq) { best = delta.slice(); bestSq = sq; }
    if (s === T) break;
    let g = ceGrad64(m, xa, t);
    if (o.encourage) g = g.map((v) => -v);
    let dir = follow ? g : delta.map((v) => -v);
    const r = rms(dir);
    dir = dir.map((v) => v / (1e-8 + r));
    if (mu > 0) { mom = mom.map((v, j) => mu * v + (1 - mu) * dir[j]!); dir = mom.slice(); }
    if (o.affected === false) dir = dir.map(() => 0);
    const ss = (o.eps * over * (T - s)) / ((T * (T + 1)) / 2);
    delta = delta.map((v, j) => v + ss * dir[j]!);
  }
  return { delta: minimise ? (best ?? new Array<number>(D).fill(0)) : delta, firstOk, found: !minimise || best !== null };
}

const B = 6, C = 3, H = 2, W = 2, D = C * H * W, K = 4;
function problem(seed: number): { m: LinearNet; x: number[][]; labels: Int32Array; flat: Float32Array } {
  const m = makeLinear(K, D, seed, 1.5);
  const r = rng(seed + 1);
  const x = Array.from({ length: B }, () => Array.from({ length: D }, () => Math.fround(r())));
  // True labels: the clean prediction, except sample 0, already misclassified (its distance must be 0).
  const labels = Int32Array.from(x, (xi, i) => { const p = argmax(logits64(m, xi)); return i === 0 ? (p + 1) % K : p; });
  return { m, x, labels, flat: Float32Array.from(x.flat()) };
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    assert.ok(d <= tol * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: got ${got[i]}, want ${want[i]} (|Δ| ${d.toExponential(2)})`);
  }
}

for (const mode of ['misclassify', 'btr'] as const) {
  for (const momentum of [0, 0.9]) {
    test(`paper routine, ${mode} mode, momentum ${momentum}: matches the float64 oracle (distances, iterates, first crossing)`, () => {
      const { m, x, labels, flat } = problem(7);
      const steps = 24, eps = 3;
      const attack = new PaperMinimalAttack({ steps, eps, momentum });
      const crit = mode === 'misclassify' ? new Misclassification(labels) : new TrueClassProbabilityAtMost(labels);
      const r = attack.run(m, floatImages(flat, B, C, H, W), crit, { epsilons: [0, 0.05, 1], batch: 4 });
      for (let i = 0; i < B; i++) {
        const o = oracle(m, x[i]!, labels[i]!, { mode, eps, steps, momentum });
        assert.ok(o.found, `oracle found a crossing for sample ${i}`);
        assert.equal(r.firstCrossing[i], o.firstOk, `first crossing of sample ${i}`);
        assertClose([r.distances[i]!], [rms(o.delta)], 2e-5, `distance ${i}`);
        assertClose(r.raw!.subarray(i * D, (i + 1) * D), x[i]!.map((v, j) => v + o.delta[j]!), 2e-5, `adversarial ${i}`);
      }
      assert.equal(r.distances[0], 0, 'an image already across the boundary scores 0');
      assert.deepEqual(r.epsilons, [0, 0.05, 1]);
      r.epsilons.forEach((e, k) => {
        for (let i = 0; i < B; i++) assert.equal(r.success[k]![i], r.distances[i]! <= e ? 1 : 0);
      });
    });
  }
}

test('paper routine, budget mode (targeted "encourage", overshoot 5): δ_T matches the oracle, no clamping', () => {
  const { m, x, flat } = problem(11);
  const targets = Int32Array.from(x, (xi) => (argmax(logits64(m, xi)) + 1) % K);
  const steps = 15, eps = 0.4;
  const attack = new PaperBudgetAttack({ steps, overshoot: 5, guard: false });
  const r = attack.run(m, floatImages(flat, B, C, H, W), new TargetedMisclassification(targets), { epsilons: [eps] });
  const adv = r.images![0]!;
  let outside = 0;
  for (let i = 0; i < B; i++) {
    const o = oracle(m, x[i]!, targets[i]!, { mode: 'budget', eps, steps, overshoot: 5, encourage: true });
    assertClose(adv.subarray(i * D, (i + 1) * D), x[i]!.map((v, j) => v + o.delta[j]!), 2e-5, `explanation ${i}`);
    // The budget is reached, then the iterate slides along it (RMS stays near eps).
    assert.ok(Math.abs(rms(o.delta) - eps) < 0.25 * eps, `RMS(δ) ${rms(o.delta)} near ${eps}`);
    const p = argmax(logits64(m, Array.from(adv.subarray(i * D, (i + 1) * D))));
    assert.equal(r.success[0]![i], p === targets[i] ? 1 : 0);
    for (const v of adv.subarray(i * D, (i + 1) * D)) if (v < 0 || v > 1) outside++;
  }
  assert.ok(outside > 0, 'the routine never clamps to [0, 1], so some pixels leave it at this budget');
});

test('paper routine: the guard raises "increase eps or steps"; without it, non-crossing samples get Infinity', () => {
  const { m, labels, flat } = problem(7);
  const input = floatImages(flat, B, C, H, W);
  // A budget far too small to cross anything but the already-misclassified sample 0.
  const small = { steps: 8, eps: 1e-4, momentum: 0 };
  assert.throws(() => new PaperMinimalAttack(small).run(m, input, new Misclassification(labels)), (e: unknown) => {
    assert.ok(e instanceof AttackGuardError);
    assert.match(e.message, /increase eps or steps/);
    assert.deepEqual(e.samples, [1, 2, 3, 4, 5]);
    return true;
  });
  const r = new PaperMinimalAttack({ ...small, guard: false }).run(m, input, new Misclassification(labels), { epsilons: [1] });
  assert.equal(r.distances[0], 0);
  for (let i = 1; i < B; i++) {
    assert.equal(r.distances[i], Infinity);
    assert.equal(r.firstCrossing[i], -1);
    assert.equal(r.success[0]![i], 0);
    // The clean image comes back where nothing crossed.
    assertClose(r.raw!.subarray(i * D, (i + 1) * D), flat.subarray(i * D, (i + 1) * D), 0, `clean ${i}`);
  }
});

test('paper routine: the guard counts only crossings within the first ⌊T/2⌋ steps', () => {
  const { m, x, labels, flat } = problem(7);
  // Find a budget where some sample first crosses after step T/2 in the oracle, then check the error names it.
  const steps = 10;
  const seen = new Set<string>();
  for (const eps of [0.05, 0.1, 0.2, 0.3, 0.5, 0.8]) {
    const late = x.map((xi, i) => oracle(m, xi, labels[i]!, { mode: 'misclassify', eps, steps }).firstOk)
      .map((f, i) => (f < 0 || f > steps / 2 ? i : -1)).filter((i) => i >= 0);
    let thrown: number[] = [];
    try {
      new PaperMinimalAttack({ steps, eps }).run(m, floatImages(flat, B, C, H, W), new Misclassification(labels));
    } catch (e) {
      assert.ok(e instanceof AttackGuardError);
      thrown = e.samples;
    }
    assert.deepEqual(thrown, late, `eps ${eps}`);
    seen.add(late.length === 0 ? 'none' : late.length === B - 1 ? 'all' : 'some');
  }
  assert.ok(seen.has('none') && seen.has('some'), `the budgets cover passing and partly failing cases (${[...seen].join(', ')})`);
});

test('paper budget attack: tensor API (attackBatch), "affected" leaves samples unperturbed, and no tensor leaks', () => {
  const { m, x, labels, flat } = problem(5);
  const before = liveTensors();
  tidy(() => {
    const xt = tensor(flat, [B, C, H, W]);
    const affected = Uint8Array.from({ length: B }, (_, i) => (i % 2));
    const { adv, delta, firstCrossing } = new PaperBudgetAttack({ steps: 7, guard: false, affected })
      .attackBatch(m, xt, new Misclassification(labels), 0.3, { computeSuccess: false });
    const d = delta.data();
    const a = adv.data();
    assert.equal(firstCrossing!.shape[0], B);
    for (let i = 0; i < B; i++) {
      const o = oracle(m, x[i]!, labels[i]!, { mode: 'budget', eps: 0.3, steps: 7, affected: affected[i] === 1 });
      assertClose(d.subarray(i * D, (i + 1) * D), o.delta, 2e-5, `δ ${i}`);
      assertClose(a.subarray(i * D, (i + 1) * D), x[i]!.map((v, j) => v + o.delta[j]!), 2e-5, `adv ${i}`);
      if (!affected[i]) assert.ok(d.subarray(i * D, (i + 1) * D).every((v) => v === 0));
    }
  });
  assert.equal(liveTensors(), before);
  // The parameters require gradients again afterwards (the attack freezes them only while it runs).
  assert.ok(m.parameters().every((p) => p.requiresGrad));
});

test('paper routine: batching does not change the result, and run() frees everything it makes', () => {
  const { m, labels, flat } = problem(3);
  const input = floatImages(flat, B, C, H, W);
  const before = liveTensors();
  const a = new PaperMinimalAttack({ steps: 16, eps: 3, momentum: 0.9 }).run(m, input, new TrueClassProbabilityAtMost(labels), { batch: 6 });
  const b = new PaperMinimalAttack({ steps: 16, eps: 3, momentum: 0.9 }).run(m, input, new TrueClassProbabilityAtMost(labels), { batch: 1 });
  assertClose(a.distances, b.distances, 1e-5, 'distances batch 6 vs 1');
  assert.equal(liveTensors(), before);
});

test('paper attack: bad options are one-line errors', () => {
  assert.throws(() => new PaperMinimalAttack({ steps: 0, eps: 1 }), /steps must be a positive integer/);
  assert.throws(() => new PaperMinimalAttack({ steps: 5, eps: 0 }), /needs eps > 0/);
  assert.throws(() => new PaperBudgetAttack({ steps: 5, momentum: 1 }), /momentum must be in \[0, 1\)/);
  const { m, labels, flat } = problem(3);
  const input = floatImages(flat, B, C, H, W);
  assert.throws(() => new PaperBudgetAttack({ steps: 5 }).run(m, input, new Misclassification(labels)), /needs at least one epsilon/);
  assert.throws(() => new PaperBudgetAttack({ steps: 5 }).run(m, input, new Misclassification(labels.subarray(1)), { epsilons: [1] }), /5 labels\/targets for 6 images/);
  assert.throws(() => new PaperBudgetAttack({ steps: 5 }).attackBatch(m, tensor(flat, [B, C, H, W]), new Misclassification(labels.subarray(1)), 1), /5 classes, samples 0…5 need one each/);
});
