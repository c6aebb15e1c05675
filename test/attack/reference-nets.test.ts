// The paper's routine on two published networks against numbers from bench/torch_attack.py (PyTorch 1.13, written
// independently from METHOD.md): records 5000–5005 of data_batch_5.bin, eps 1, 30 steps, momentum 0.9 (minimising
// modes) and the explanation setting (targets = label+1 mod 10, encourage, eps 0.1, overshoot 5, 35 steps).
// The two forwards differ in the last float32 bits (pooling order), so the iterates drift apart slightly:
// measured ≤ 7e-5 relative; the tolerance is 0.2%.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setNumThreads, tensor, tidy } from '../../src/engine/index.js';
import { loadModel } from '../../src/io/model-file.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { PaperAttack, paperRoutine, misclassification, btr } from '../../src/attack/index.js';
import { skipUnlessShared } from '../helpers/shared.js';

setNumThreads(1);

// /usr/bin/python3: paper_attack(model, x, y, 1.0, 30, 1.0, 0.9, mode) and the budget call, RMS of δ and first_ok.
const TORCH = {
  labels: [7, 1, 4, 1, 0, 2],
  standard: {
    misclassify: { d: [0.005172755, 0.002772543, 0.002670313, 0.003875686, 0.00159379, 0.002543716], first: [1, 1, 1, 1, 1, 1] },
    btr: { d: [0.005172755, 0.001937944, 0.002670313, 0.004035311, 0.002846766, 0.002334344], first: [1, 1, 1, 1, 1, 1] },
    budget: { d: [0.06336939, 0.05195434, 0.05666609, 0.05235029, 0.05175975, 0.05203632], first: [1034, 1034, 1034, 1034, 1034, 1034] },
  },
  robust: {
    misclassify: { d: [0.04461556, 0.04996432, 0.02383389, 0.05846165, 0, 0], first: [6, 5, 4, 7, 0, 0] },
    btr: { d: [0.1022854, 0.07529697, 0.1300149, 0.05946068, 0.05881486, 0.05594341], first: [10, 10, 9, 8, 6, 6] },
    budget: { d: [0.09985151, 0.1002698, 0.09954385, 0.09998674, 0.0997385, 0.09953181], first: [5, 5, 5, 5, 5, 4] },
  },
} as const;

for (const net of ['standard', 'robust'] as const) {
  test(`paper routine on resnet44-${net} agrees with the PyTorch version`, (t) => {
    const shared = skipUnlessShared(t, `models/reference/resnet44-${net}.safetensors`, 'data/cifar10/data_batch_5.bin');
    if (shared === null) return;
    const { model } = loadModel(path.join(shared, 'models', 'reference', `resnet44-${net}.safetensors`));
    const set = readCifarBatch(path.join(shared, 'data', 'cifar10', 'data_batch_5.bin'), { offset: 5000, limit: 6 });
    assert.deepEqual(Array.from(set.labels), TORCH.labels);
    const want = TORCH[net];
    for (const mode of ['misclassify', 'btr'] as const) {
      const r = new PaperAttack({ mode: 'minimize', steps: 30, eps: 1, momentum: 0.9 })
        .run(model, set, mode === 'misclassify' ? misclassification(set.labels) : btr(set.labels), { keepImages: false });
      assert.deepEqual(Array.from(r.minimal!.firstCrossing), want[mode].first, `${mode}: first crossings`);
      r.minimal!.distances.forEach((d, i) => {
        const w = want[mode].d[i]!;
        assert.ok(Math.abs(d - w) <= 0.002 * w + 1e-9, `${mode} distance ${i}: ${d} vs torch ${w}`);
      });
    }
    tidy(() => {
      const x = tensor(set.images, [6, 3, 32, 32]);
      const targets = tensor(Int32Array.from(set.labels, (l) => (l + 1) % 10), [6]);
      const { delta, firstCrossing } = paperRoutine(model, x, targets, { mode: 'budget', encourage: true, eps: 0.1, overshoot: 5, steps: 35, guard: false });
      const rmsd = delta.square().mean([1, 2, 3]).sqrt().data();
      assert.deepEqual(firstCrossing.toArray(), want.budget.first, 'budget: first step with RMS(δ) ≥ eps');
      rmsd.forEach((d, i) => assert.ok(Math.abs(d - want.budget.d[i]!) <= 0.002 * want.budget.d[i]!, `budget RMS ${i}: ${d} vs torch ${want.budget.d[i]}`));
    });
    model.dispose();
  });
}
