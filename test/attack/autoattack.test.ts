// AutoAttack's pieces and the minimal-norm attacks against independent references: APGD's checkpoints (the
// paper's p_j) and its step-size rule (recomputed in plain JS from the traced losses), DLR values (float64
// arithmetic on the logits), Square's schedule and acceptance rule, the box-constrained projection of FAB, and on
// a linear model, where the smallest L2 perturbation that changes the class is min_j (z_y − z_j)/‖w_y − w_j‖,
// FAB-T, DDN and FMN within 1% of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, tidy, liveTensors, setNumThreads } from '../../src/engine/index.js';
import {
  APGD, apgdCheckpoints, dlrLoss, dlrTargetedLoss, margin, squareP, squareAccept, squareEta, boxProjection, FAB, DDN, FMN,
  AutoAttack, Square, Misclassification, restrictCriterion,
} from '../../src/attack/index.js';
import { parseAutoAttack } from '../../src/cli/eval-robust.js';
import { LinearNet, rng, logits64, argmax } from './linear-model.js';
import { checkStepSizes } from './apgd-rule.js';

setNumThreads(1);

test('APGD checkpoints are the paper\'s ⌈p_j N⌉, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)', () => {
  for (const N of [100, 1000]) {
    const want: number[] = [];
    let prev = 0, p = 0.22;
    while (p <= 1) {
      want.push(Math.ceil(p * N - 1e-9));
      const next = p + Math.max(p - prev - 0.03, 0.06);
      prev = p; p = next;
    }
    const got = apgdCheckpoints(N);
    assert.deepEqual(got.map((c) => c.at), want, `N = ${N}`);
    got.forEach((c, j) => assert.equal(c.period, c.at - (j === 0 ? 0 : got[j - 1]!.at)));
  }
  assert.deepEqual(apgdCheckpoints(100).map((c) => c.at), [22, 41, 57, 70, 80, 87, 93, 99]);
});

/** A linear problem with images near 0.5 (far from the [0, 1] bounds) and the closed-form minimal L2 distance. */
function linear(seed: number, B: number, K: number, C: number, H: number, W: number, scale: number) {
  const D = C * H * W;
  const r = rng(seed);
  const Wt = Float64Array.from({ length: K * D }, () => Math.fround((r() * 2 - 1) * scale));
  const b = Float64Array.from({ length: K }, () => Math.fround((r() * 2 - 1) * 0.1));
  const m = new LinearNet(Wt, b, K, D);
  const x = Array.from({ length: B }, () => Array.from({ length: D }, () => Math.fround(0.5 + (r() - 0.5) * 0.1)));
  const labels = Int32Array.from(x, (xi) => argmax(logits64(m, xi)));
  const minimal = x.map((xi, i) => {
    const z = logits64(m, xi);
    const y = labels[i]!;
    let best = Infinity;
    for (let j = 0; j < K; j++) {
      if (j === y) continue;
      let n2 = 0;
      for (let d = 0; d < D; d++) n2 += (Wt[y * D + d]! - Wt[j * D + d]!) ** 2;
      best = Math.min(best, (z[y]! - z[j]!) / Math.sqrt(n2));
    }
    return best;
  });
  return { m, x, labels, minimal, shape: [B, C, H, W] as const, D };
}

test('APGD step size: halved exactly at the checkpoints where the loss rose in ≤ 75% of the period or stalled', () => {
  const { m, x, labels, shape } = linear(3, 8, 5, 3, 4, 4, 1);
  const traces: { loss: Float32Array; stepSize: Float32Array }[] = [];
  const eps = 0.02;
  const before = liveTensors();
  tidy(() => {
    const apgd = new APGD({ norm: 'linf', steps: 100, onIteration: (_t, info) => { traces.push(info); } });
    apgd.attackBatch(m, tensor(Float32Array.from(x.flat()), [...shape]), new Misclassification(labels), eps);
  });
  assert.equal(liveTensors(), before);
  assert.equal(traces.length, 101, 'one run: the start and 100 iterations');
  const { halved } = checkStepSizes(traces, shape[0], eps);
  // On a linear model the loss is flat once the iterate reaches a corner of the ball: every checkpoint halves
  // (the rule's other outcome is checked on the robust net, test/attack/autoattack-nets.test.ts).
  assert.ok(halved > 0);
});

test('DLR and targeted DLR losses match float64 arithmetic on the logits', () => {
  const z = [[3, 1, 2, -1, 0.5], [0.2, 4, -2, 1, 1.5], [1, 1, 1, 0.9, 0.1]];
  const y = [0, 2, 1];
  const t = [1, 0, 4];
  const sorted = (r: number[]): number[] => [...r].sort((a, b) => b - a);
  const dlr = z.map((r, i) => {
    const s = sorted(r);
    const other = Math.max(...r.filter((_, j) => j !== y[i]));
    return -(r[y[i]!]! - other) / (s[0]! - s[2]! + 1e-12);
  });
  const dlrT = z.map((r, i) => {
    const s = sorted(r);
    return -(r[y[i]!]! - r[t[i]!]!) / (s[0]! - (s[2]! + s[3]!) / 2 + 1e-12);
  });
  tidy(() => {
    const Z = tensor(Float32Array.from(z.flat()), [3, 5]);
    const Y = tensor(Int32Array.from(y), [3]).cast('int64');
    const T = tensor(Int32Array.from(t), [3]).cast('int64');
    const got = dlrLoss(Z, Y).data();
    const gotT = dlrTargetedLoss(Z, Y, T).data();
    for (let i = 0; i < 3; i++) {
      assert.ok(Math.abs(got[i]! - dlr[i]!) < 1e-6 * Math.max(1, Math.abs(dlr[i]!)), `DLR[${i}] ${got[i]} vs ${dlr[i]}`);
      assert.ok(Math.abs(gotT[i]! - dlrT[i]!) < 1e-6 * Math.max(1, Math.abs(dlrT[i]!)), `targeted DLR[${i}] ${gotT[i]} vs ${dlrT[i]}`);
    }
    // Invariant to shifting and scaling the logits.
    const scaled = dlrLoss(Z.mul(3.5).add(7), Y).data();
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(scaled[i]! - got[i]!) < 1e-5);
    assert.deepEqual(Array.from(margin(Z, Y).data(), (v) => +v.toFixed(5)), [1, -6, 0]);
  });
});

test('Square: the schedule of p, the acceptance rule and the L2 pattern', () => {
  const want = (q: number): number => 0.8 / 2 ** [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000].filter((c) => q > c).length;
  for (const q of [0, 10, 11, 50, 51, 200, 201, 499, 501, 1001, 2001, 4001, 4999, 6001, 8001, 9999]) assert.equal(squareP(q, 0.8), want(q), `query ${q}`);
  assert.equal(squareP(11, 0.8), 0.4);
  assert.equal(squareP(4001, 0.8), 0.8 / 128);
  tidy(() => {
    // Accept where the margin went down, or the query is adversarial; reject ties and increases.
    const acc = squareAccept(tensor(Float32Array.from([0.5, 0.7, 0.7, -0.1, 0, 0.2]), [6]), tensor(Float32Array.from([0.6, 0.7, 0.6, -0.5, 0.3, 0.2]), [6]));
    assert.deepEqual(Array.from(acc.cast('uint8').data()), [1, 0, 0, 1, 1, 0]);
  });
  for (const s of [3, 5, 6, 7]) {
    const e = squareEta(s);
    assert.ok(Math.abs(Math.hypot(...e) - 1) < 1e-12, `‖η(${s})‖ = 1`);
    const top = e.slice(0, Math.floor(s / 2) * s), bottom = e.slice(Math.floor(s / 2) * s);
    assert.ok(top.every((v) => v > 0) && bottom.every((v) => v < 0), `η(${s}): two halves of opposite sign`);
    // The centre of each half weighs most.
    const row = Math.floor(s / 2) + Math.floor((s - Math.floor(s / 2)) / 2);
    assert.equal(Math.min(...bottom), e[row * s + Math.floor(s / 2)]);
  }
});

test('FAB\'s box-constrained projection: on the plane, inside the box, and minimal (against a brute-force check)', () => {
  tidy(() => {
    const r = rng(11);
    const N = 5, D = 7;
    const t = Float32Array.from({ length: N * D }, () => r());
    const w = Float32Array.from({ length: N * D }, () => r() * 2 - 1);
    const b = Float32Array.from({ length: N }, (_, i) => {
      let s = 0;
      for (let j = 0; j < D; j++) s += w[i * D + j]! * t[i * D + j]!;
      return s + (r() - 0.5) * 0.6;
    });
    for (const norm of ['l2', 'linf'] as const) {
      const d = boxProjection(norm, tensor(t, [N, D]), tensor(w, [N, D]), tensor(b, [N])).data();
      for (let i = 0; i < N; i++) {
        let s = 0;
        for (let j = 0; j < D; j++) {
          const v = t[i * D + j]! + d[i * D + j]!;
          assert.ok(v >= -1e-6 && v <= 1 + 1e-6, `${norm} row ${i}: in the box`);
          s += w[i * D + j]! * v;
        }
        assert.ok(Math.abs(s - b[i]!) < 1e-4, `${norm} row ${i}: on the plane (${s} vs ${b[i]})`);
        // Minimal: random feasible points on the plane (other steps in the box) are never smaller.
        const size = (v: ArrayLike<number>): number => (norm === 'l2' ? Math.hypot(...Array.from(v)) : Math.max(...Array.from(v, Math.abs)));
        const mine = size(d.subarray(i * D, (i + 1) * D));
        for (let k = 0; k < 200; k++) {
          const cand = Array.from({ length: D }, (_, j) => d[i * D + j]! + (r() - 0.5) * 0.2);
          // Move along w to the plane, then check the box.
          let off = 0, ww = 0;
          for (let j = 0; j < D; j++) { off += w[i * D + j]! * (t[i * D + j]! + cand[j]!); ww += w[i * D + j]! ** 2; }
          for (let j = 0; j < D; j++) cand[j]! -= ((off - b[i]!) / ww) * w[i * D + j]!;
          if (cand.every((v, j) => t[i * D + j]! + v >= 0 && t[i * D + j]! + v <= 1)) assert.ok(size(cand) >= mine - 1e-5, `${norm} row ${i}: a smaller step ${size(cand)} < ${mine}`);
        }
      }
    }
  });
});

test('on a linear model FAB-T, DDN and FMN find the closed-form minimal L2 perturbation within 1%', () => {
  // Images near 0.5 and perturbations of ~0.2 in L2 stay far from the [0, 1] bounds. The weights' scale (5) makes the
  // softmax sharp at the boundary, so DDN's cross-entropy direction is the boundary's normal.
  const { m, x, labels, minimal, shape } = linear(5, 8, 5, 3, 4, 4, 5);
  const input = tensor(Float32Array.from(x.flat()), [...shape]);
  const before = liveTensors();
  for (const attack of [new FAB({ norm: 'l2' }), new DDN(), new FMN()]) {
    const r = attack.run(m, input, new Misclassification(labels), { keepImages: false });
    r.distances.forEach((d, i) => {
      assert.ok(d >= minimal[i]! * (1 - 1e-4), `${attack.name} sample ${i}: ${d} below the minimum ${minimal[i]}?`);
      assert.ok(d <= minimal[i]! * 1.01, `${attack.name} sample ${i}: ${d} vs minimum ${minimal[i]} (${((d / minimal[i]! - 1) * 100).toFixed(2)}% over)`);
    });
  }
  assert.equal(liveTensors(), before, 'the attacks free what they make');
  input.dispose();
});

test('AutoAttack: runs each attack only on the samples still robust, its result in the ε-ball, seeded', () => {
  const { m, x, labels, shape } = linear(7, 8, 5, 3, 4, 4, 1);
  const input = tensor(Float32Array.from(x.flat()), [...shape]);
  const run = () => {
    const aa = new AutoAttack({ norm: 'linf', iterations: 20, squareQueries: 50 });
    const r = aa.run(m, input, new Misclassification(labels), { epsilons: [0.005], batch: 8 });
    return { r, broken: aa.broken };
  };
  const a = run(), b = run();
  assert.deepEqual(a.r.success, b.r.success, 'seeded: the same outcome twice');
  const broken = Object.values(a.broken).reduce((s, v) => s + v, 0);
  assert.equal(broken, a.r.success[0]!.reduce((s, v) => s + v, 0), 'each broken sample counted once, by the first attack that broke it');
  assert.ok(broken > 0 && broken < 8, `ε 0.005 breaks some samples, not all (${broken})`);
  for (let i = 0; i < 8; i++) {
    const img = a.r.images![0]!.subarray(i * 48, (i + 1) * 48);
    assert.ok(img.every((v, j) => Math.abs(v - x[i]![j]!) <= 0.005 + 1e-6 && v >= 0 && v <= 1), `sample ${i} in the ε-ball and [0, 1]`);
    assert.equal(a.r.success[0]![i], argmax(logits64(m, img)) !== labels[i] ? 1 : 0, `sample ${i}: success is misclassification`);
  }
  // A restricted criterion keeps its class and takes the subset's classes.
  const c = restrictCriterion(new Misclassification(labels), [3, 1]);
  assert.ok(c instanceof Misclassification);
  assert.deepEqual(Array.from(c.classes), [labels[3], labels[1]]);
  // Square alone: acceptance keeps the best margin, the result stays in the ball.
  const sq = new Square({ norm: 'l2', queries: 30 }).run(m, input, new Misclassification(labels), { epsilons: [0.1] });
  for (let i = 0; i < 8; i++) {
    const img = sq.images![0]!.subarray(i * 48, (i + 1) * 48);
    assert.ok(Math.hypot(...Array.from(img, (v, j) => v - x[i]![j]!)) <= 0.1 + 1e-5, `square L2 sample ${i} in the ball`);
  }
  input.dispose();
});

test('--autoattack specs', () => {
  assert.deepEqual(parseAutoAttack('linf'), [{ norm: 'linf', eps: 8 / 255 }]);
  assert.deepEqual(parseAutoAttack('l2:0.25,linf:4/255'), [{ norm: 'l2', eps: 0.25 }, { norm: 'linf', eps: 4 / 255 }]);
  assert.deepEqual(parseAutoAttack(undefined), []);
  assert.throws(() => parseAutoAttack('l1'), /unknown norm 'l1'/);
  assert.throws(() => parseAutoAttack('l2:-1'), /ε must be a number > 0/);
});
