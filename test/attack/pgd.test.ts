// PGD (L∞, L2) and FGSM against float64 plain-JS oracles on a linear classifier (closed-form input gradient),
// plus the base's contract: one result per ε, clipping, targeted criteria, batching, no leaked tensors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensors, manualSeed, setNumThreads } from '../../src/engine/index.js';
import { PGD, FGSM, Misclassification, TargetedMisclassification } from '../../src/attack/index.js';
import { makeLinear, linearProblem, logits64, ceGrad64, argmax } from './linear-model.js';

setNumThreads(1);

const B = 5, C = 3, H = 2, W = 2, D = C * H * W, K = 4;
const problem = (seed: number) => linearProblem(seed, B, { C, H, W, K });
const clip01 = (v: number): number => Math.min(1, Math.max(0, v));
const l2 = (v: number[]): number => Math.sqrt(v.reduce((s, a) => s + a * a, 0));

/** PGD without random start, in float64: the step, the projection, the clipping, written from the definition. */
function pgdOracle(m: ReturnType<typeof makeLinear>, x: number[], t: number, norm: 'linf' | 'l2', eps: number, alpha: number, steps: number, sign: 1 | -1): number[] {
  let adv = x.slice();
  for (let s = 0; s < steps; s++) {
    const g = ceGrad64(m, adv, t).map((v) => sign * v);
    let d: number[];
    if (norm === 'linf') {
      d = adv.map((v, j) => Math.min(eps, Math.max(-eps, v + alpha * Math.sign(g[j]!) - x[j]!)));
    } else {
      const gn = l2(g) + 1e-12;
      const raw = adv.map((v, j) => v + (alpha * g[j]!) / gn - x[j]!);
      const scale = Math.min(1, eps / (l2(raw) + 1e-12));
      d = raw.map((v) => v * scale);
    }
    adv = x.map((v, j) => clip01(v + d[j]!));
  }
  return adv;
}

function close(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

test('FGSM = clip(x + ε·sign ∇CE) for every ε of the array; success is the misclassification of that image', () => {
  const { m, x, labels, input } = problem(21);
  const epsilons = [0, 0.02, 0.3];
  const r = new FGSM().run(m, input, new Misclassification(labels), { epsilons });
  assert.equal(r.images!.length, 3);
  epsilons.forEach((e, k) => {
    for (let i = 0; i < B; i++) {
      const g = ceGrad64(m, x[i]!, labels[i]!);
      const want = x[i]!.map((v, j) => clip01(v + e * Math.sign(g[j]!)));
      close(r.images![k]!.subarray(i * D, (i + 1) * D), want, 1e-6, `fgsm ε=${e} sample ${i}`);
      assert.equal(r.success[k]![i], argmax(logits64(m, want)) !== labels[i] ? 1 : 0, `success ε=${e} sample ${i}`);
    }
  });
  assert.ok(r.success[0]!.every((s) => s === 0), 'ε = 0 changes nothing');
});

for (const norm of ['linf', 'l2'] as const) {
  test(`PGD ${norm} without random start matches the oracle (targeted too)`, () => {
    const { m, x, labels, input } = problem(22);
    const eps = norm === 'linf' ? 0.1 : 0.4;
    const steps = 6, rel = 0.3;
    for (const targetedRun of [false, true]) {
      const cls = targetedRun ? Int32Array.from(labels, (l) => (l + 1) % K) : labels;
      const crit = targetedRun ? new TargetedMisclassification(cls) : new Misclassification(cls);
      const r = new PGD({ norm, steps, relStepsize: rel, randomStart: false }).run(m, input, crit, { epsilons: [eps], batch: 2 });
      for (let i = 0; i < B; i++) {
        const want = pgdOracle(m, x[i]!, cls[i]!, norm, eps, rel * eps, steps, targetedRun ? -1 : 1);
        close(r.images![0]!.subarray(i * D, (i + 1) * D), want, 2e-5, `${norm}${targetedRun ? ' targeted' : ''} sample ${i}`);
        const p = argmax(logits64(m, want));
        assert.equal(r.success[0]![i], (targetedRun ? p === cls[i] : p !== cls[i]) ? 1 : 0);
      }
    }
  });

  test(`PGD ${norm} with random start stays in the ε-ball and in [0, 1], reproducibly under a seed`, () => {
    const { m, x, labels, input } = problem(23);
    const epsilons = norm === 'linf' ? [8 / 255, 0.2] : [0.5, 1.5];
    const before = liveTensors();
    manualSeed(5);
    const a = new PGD({ norm, steps: 4 }).run(m, input, new Misclassification(labels), { epsilons });
    manualSeed(5);
    const b = new PGD({ norm, steps: 4 }).run(m, input, new Misclassification(labels), { epsilons });
    assert.equal(liveTensors(), before);
    epsilons.forEach((e, k) => {
      assert.deepEqual(a.images![k], b.images![k]);
      for (let i = 0; i < B; i++) {
        const d = x[i]!.map((v, j) => a.images![k]![i * D + j]! - v);
        const size = norm === 'linf' ? Math.max(...d.map(Math.abs)) : l2(d);
        assert.ok(size <= e * (1 + 1e-5) + 1e-7, `‖δ‖ ${size} ≤ ε ${e}`);
        assert.ok(a.images![k]!.subarray(i * D, (i + 1) * D).every((v) => v >= 0 && v <= 1));
      }
    });
    // A larger budget never breaks fewer images here.
    const s0 = a.success[0]!.reduce((s, v) => s + v, 0), s1 = a.success[1]!.reduce((s, v) => s + v, 0);
    assert.ok(s1 >= s0, `${s1} ≥ ${s0}`);
  });
}

test('PGD: options and inputs are checked', () => {
  const { m, labels, input } = problem(3);
  assert.throws(() => new PGD({ norm: 'l1' as 'l2' }), /norm must be 'linf' or 'l2'/);
  assert.throws(() => new PGD({ norm: 'linf', steps: 1.5 }), /steps must be a positive integer/);
  assert.throws(() => new PGD({ norm: 'linf', relStepsize: -1 }), /relStepsize must be > 0/);
  assert.throws(() => new PGD({ norm: 'linf' }).run(m, input, new Misclassification(labels), { epsilons: [-1] }), /epsilons must be finite and ≥ 0/);
  assert.throws(() => new PGD({ norm: 'linf' }).run(m, input, new Misclassification(labels), { epsilons: [0.1], batch: 0 }), /batch must be a positive integer/);
  assert.throws(() => new PGD({ norm: 'linf', bounds: [1, 0] }), /low < high/);
});
