// The proof that engine + model are right: the published nets against golden.json, computed by
// real PyTorch 1.13 on the reference model code (forward, input gradients, and the Lipschitz loss's
// second-order weight gradients).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tensor, tidy, gradOf, setNumThreads, type Tensor } from '../../src/engine/index.js';
import { crossEntropy } from '../../src/engine/index.js';
import { loadModel } from '../../src/io/model-file.js';
import { readCifarBatch } from '../../src/data/cifar.js';
import { lipschitzLoss } from '../../src/train/lipschitz.js';
import { skipUnlessShared } from '../helpers/shared.js';

const NETS = ['resnet44-standard', 'resnet44-adv-train', 'resnet44-robust', 'resnet44-all'];

function relErr(a: number, b: number, floor = 1e-12): number { return Math.abs(a - b) / Math.max(Math.abs(b), floor); }
function assertClose(actual: ArrayLike<number>, expected: readonly number[], tol: number, what: string, floor = 1e-12): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const e = relErr(actual[i]!, expected[i]!, floor);
    assert.ok(e <= tol, `${what}[${i}]: ${actual[i]} vs golden ${expected[i]} (rel ${e.toExponential(2)} > ${tol})`);
  }
}

function gradientImage(): Float32Array {
  const a = new Float32Array(3 * 32 * 32);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
    a[y * 32 + x] = x / 31;
    a[1024 + y * 32 + x] = y / 31;
    a[2048 + y * 32 + x] = (x + y) / 62;
  }
  return a;
}

test('published nets reproduce PyTorch golden outputs', async (t) => {
  const shared = skipUnlessShared(t, 'models/reference/golden.json', 'data/cifar10/data_batch_1.bin');
  if (shared === null) return;
  setNumThreads(2);
  const golden = JSON.parse(fs.readFileSync(path.join(shared, 'models/reference/golden.json'), 'utf8'));
  const train16 = readCifarBatch(path.join(shared, 'data/cifar10/data_batch_1.bin'), { limit: 16 });
  assert.deepEqual(Array.from(train16.labels), [6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9]);

  for (const name of NETS) {
    const gold = golden.nets[name];
    await t.test(name, async (tt) => {
      const { model } = loadModel(path.join(shared, `models/reference/${name}.safetensors`));
      assert.equal(model.numParameters(), 681626);
      try {
        await tt.test('eval logits of the three input sets within 1e-4 relative', () => tidy(() => {
          model.eval();
          const logits = (x: Float32Array, n: number): Float32Array => model.call(tensor(x, [n, 3, 32, 32])).data();
          // Logits near zero make a relative bound meaningless; floor at 1e-3 of the logits' scale.
          assertClose(logits(gradientImage(), 1), gold.logits_gradient_image, 1e-4, 'gradient_image', 1e-3);
          assertClose(logits(new Float32Array(3072).fill(0.5), 1), gold.logits_constant_image, 1e-4, 'constant_image', 1e-3);
          assertClose(logits(train16.images, 16), gold.logits_train16.flat(), 1e-4, 'train16', 1e-3);
        }));

        await tt.test('eval input gradient of summed cross-entropy', () => tidy(() => {
          model.eval();
          const g = gold.eval_input_grad_ce_sum_first4;
          const x = tensor(train16.images.subarray(0, 4 * 3072), [4, 3, 32, 32]).requiresGrad_(true);
          const y = tensor(train16.labels.subarray(0, 4), [4], { dtype: 'int64' });
          const [gx] = gradOf(crossEntropy(model.call(x), y, 'sum'), [x]);
          const v = gx!.data();
          assert.deepEqual(gx!.shape, g.shape);
          let sumAbs = 0, sq = 0;
          for (const q of v) { sumAbs += Math.abs(q); sq += q * q; }
          assert.ok(relErr(sumAbs, g.sum_abs) < 1e-3, `sum_abs ${sumAbs} vs ${g.sum_abs}`);
          assert.ok(relErr(Math.sqrt(sq / v.length), g.rms) < 1e-3, `rms vs ${g.rms}`);
          assertClose(v.subarray(0, 10), g.first10_of_image0_channel0_row0, 1e-3, 'first10', g.rms * 1e-2);
        }));

        await tt.test('train-mode Lipschitz loss and its second-order weight gradients within 1e-3', () => tidy(() => {
          const r = gold.train_regularised_batch16;
          model.train();
          const x = tensor(train16.images, [16, 3, 32, 32]);
          const y = tensor(train16.labels, [16], { dtype: 'int64' });
          const choices = { k: tensor(Int32Array.from(r.k), [16], { dtype: 'int64' }), unfair: tensor(Int32Array.from(r.unfair), [16]).gt(0) };
          const out = lipschitzLoss(model, x, y, r.psi, choices);
          assert.ok(relErr(out.lossCls.item(), r.loss_cls) < 1e-3, `loss_cls ${out.lossCls.item()} vs ${r.loss_cls}`);
          assert.ok(relErr(out.lossAdv.item(), r.loss_adv) < 1e-3, `loss_adv ${out.lossAdv.item()} vs ${r.loss_adv}`);
          assert.ok(relErr(out.loss.item(), r.loss) < 1e-3, `loss ${out.loss.item()} vs ${r.loss}`);
          const named = model.namedParameters();
          const grads = gradOf(out.loss, named.map(([, p]) => p));
          const byName = new Map<string, Tensor>(named.map(([n], i) => [n, grads[i]!]));
          assert.equal(Object.keys(r.grad_l2_by_param).length, named.length);
          let total = 0;
          for (const [n, gt] of byName) {
            const v = gt.data();
            let s = 0;
            for (const q of v) s += q * q;
            total += s;
            const want = r.grad_l2_by_param[n];
            assert.ok(want !== undefined, `golden lacks ${n}`);
            assert.ok(relErr(Math.sqrt(s), want, 1e-9) < 1e-3, `|grad ${n}| ${Math.sqrt(s)} vs ${want}`);
          }
          assert.ok(relErr(Math.sqrt(total), r.grad_global_l2) < 1e-3, `global l2 ${Math.sqrt(total)} vs ${r.grad_global_l2}`);
          const scale = r.grad_global_l2 * 1e-6;
          assertClose(byName.get('pipe.7.bias')!.data(), r['grad_pipe.7.bias'], 1e-3, 'grad pipe.7.bias', scale);
          assertClose(byName.get('pipe.7.weight')!.data().subarray(0, 10), r['grad_pipe.7.weight_first10'], 1e-3, 'grad pipe.7.weight', scale);
          assertClose(byName.get('pipe.0.weight')!.data().subarray(0, 10), r['grad_pipe.0.weight_first10'], 1e-3, 'grad pipe.0.weight', scale);
        }));
      } finally {
        model.dispose();
      }
    });
  }
});
