// The engine's contract: values in and out, errors as exceptions, scopes that free, autograd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  tensor, zeros, tidy, keep, dispose, noGrad, liveTensors, gradOf, grad, backward, conv2d, crossEntropy,
  manualSeed, rand, randn, getRngState, setRngState, setNumThreads, getNumThreads, pad, cat, stack, where,
} from '../../src/engine/index.js';

test('typed arrays round-trip with their dtypes', () => tidy(() => {
  const f = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  assert.deepEqual(f.shape, [2, 3]);
  assert.equal(f.dtype, 'float32');
  assert.deepEqual(Array.from(f.mul(2).add(1).data()), [3, 5, 7, 9, 11, 13]);
  assert.equal(tensor(new Int32Array([1, 2]), [2]).dtype, 'int32');
  assert.equal(tensor([1, 2], [2], { dtype: 'int64' }).dtype, 'int64');
  assert.deepEqual(tensor([1, 2], [2], { dtype: 'int64' }).toArray(), [1, 2]);
  assert.deepEqual(f.sum(1).toArray(), [6, 15]);
  assert.deepEqual(f.max(1).indices.toArray(), [2, 2]);
  assert.deepEqual(f.transpose(0, 1).contiguous().toArray(), [1, 4, 2, 5, 3, 6]);
  assert.equal(f.sum().item(), 21);
}));

test('libtorch errors become JS exceptions with libtorch\'s message', () => tidy(() => {
  const a = zeros([2, 2]);
  assert.throws(() => a.matmul(zeros([3, 3])), /libtorch: mat1 and mat2 shapes cannot be multiplied/);
  assert.throws(() => tensor(new Float32Array(3), [2, 2]), /shape has 4 elements but the array has 3/);
  assert.throws(() => zeros([1, 3, 8, 8]).reshape([5]), /libtorch: .*shape/);
}));

test('disposed tensors throw instead of crashing', () => {
  const a = zeros([2]);
  a.dispose();
  assert.ok(a.isDisposed);
  assert.throws(() => a.add(1), /disposed/);
  a.dispose(); // idempotent
});

test('tidy frees everything but what it returns', () => {
  const before = liveTensors();
  const kept = tidy(() => {
    const a = zeros([100]);
    const b = a.add(1);
    a.mul(b);
    return { out: b.mul(3), list: [b.sub(1)] };
  });
  assert.equal(liveTensors(), before + 2);
  assert.equal(kept.out.sum().item(), 300); // created outside a scope: not tracked
  dispose(kept);
  assert.ok(liveTensors() <= before + 1);
  // nested: inner results move to the outer scope and die with it
  const before2 = liveTensors();
  tidy(() => { tidy(() => zeros([3])); });
  assert.equal(liveTensors(), before2);
  // a throwing fn still frees its tensors
  assert.throws(() => tidy(() => { zeros([3]); throw new Error('boom'); }), /boom/);
  assert.equal(liveTensors(), before2);
  // keep() survives scopes
  const k = tidy(() => { const t = keep(zeros([2])); zeros([2]); return null; });
  assert.equal(k, null);
  assert.equal(liveTensors(), before2 + 1);
});

test('autograd: first and second derivatives, backward, no-grad', () => tidy(() => {
  const x = tensor([1, 2, 3]).requiresGrad_();
  const y = x.pow(3).sum();
  const [g] = gradOf(y, [x], { createGraph: true });
  assert.deepEqual(g!.toArray(), [3, 12, 27]);
  const [g2] = gradOf(g!.sum(), [x]);
  assert.deepEqual(g2!.toArray(), [6, 12, 18]);
  const w = tensor([2]).requiresGrad_();
  backward(w.mul(w).sum());
  assert.deepEqual(w.grad!.toArray(), [4]);
  const z = noGrad(() => x.mul(2));
  assert.equal(z.requiresGrad, false);
  const [unused] = grad(x.sum(), [tensor([1]).requiresGrad_()], { allowUnused: true });
  assert.equal(unused, null);
}));

test('nn ops agree with hand-computed values', () => tidy(() => {
  // 1×1×3×3 input, 3×3 kernel of ones, padding 1: each output is the sum of its neighbourhood.
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  const w = tensor(new Float32Array(9).fill(1), [1, 1, 3, 3]);
  assert.deepEqual(conv2d(x, w, null, { padding: 1 }).toArray(), [12, 21, 16, 27, 45, 33, 24, 39, 28]);
  const logits = tensor([0, 0, Math.log(2)], [1, 3]);
  assert.ok(Math.abs(crossEntropy(logits, tensor([2], [1], { dtype: 'int64' })).item() - Math.log(2)) < 1e-6);
  // replicate padding copies the edge
  assert.deepEqual(pad(tensor([1, 2], [1, 1, 1, 2]), [1, 1, 0, 0], 'replicate').toArray(), [1, 1, 2, 2]);
  assert.deepEqual(cat([tensor([1]), tensor([2])]).toArray(), [1, 2]);
  assert.deepEqual(stack([tensor([1]), tensor([2])], 1).shape, [1, 2]);
  assert.deepEqual(where(tensor([1, -1]).gt(0), tensor([5, 5]), 0).toArray(), [5, 0]);
}));

test('seeded generator: same seed, same numbers; state save/restore', () => tidy(() => {
  manualSeed(7);
  const a = randn([5]).toArray();
  manualSeed(7);
  assert.deepEqual(randn([5]).toArray(), a);
  const state = getRngState();
  const b = rand([4]).toArray();
  setRngState(state);
  assert.deepEqual(rand([4]).toArray(), b);
  state.dispose();
}));

test('threads can be set', () => {
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  assert.throws(() => setNumThreads(0), /positive integer/);
});

test('integral numbers keep integer dtypes, as Python ints do', () => tidy(() => {
  const i = tensor([0, 1, 2, 3], [4], { dtype: 'int64' });
  assert.equal(i.add(3).dtype, 'int64');
  assert.equal(i.clamp(0, 2).dtype, 'int64');
  assert.deepEqual(i.mul(2).toArray(), [0, 2, 4, 6]);
  assert.equal(i.mul(0.5).dtype, 'float32');
  assert.equal(tensor([1.5]).add(1).dtype, 'float32');
}));

test('clamp with one bound', () => tidy(() => {
  assert.deepEqual(tensor([-1, 2]).clamp(0).toArray(), [0, 2]);
  assert.deepEqual(tensor([-1, 2]).clamp(null, 1).toArray(), [-1, 1]);
}));
