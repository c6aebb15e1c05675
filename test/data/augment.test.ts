// Batch augmentation (METHOD.md §3): checked pixel by pixel against a plain-JS pad-4-replicate / crop / flip,
// and against the same thing done with the engine's replicate pad and slices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, rand, tidy, manualSeed, pad, stack, liveTensors, setNumThreads } from '../../src/engine/index.js';
import { applyAugment, augmentBatch, sampleAugment } from '../../src/data/augment.js';

test('augment = replicate-pad 4, crop at the drawn offset, flip: exact against a JS loop and against pad()', () => {
  setNumThreads(1);
  manualSeed(3);
  const before = liveTensors();
  tidy(() => {
    const B = 64, C = 3, H = 12, W = 10, P = 4;
    const x = rand([B, C, H, W]);
    const p = sampleAugment(B, P);
    const out = applyAugment(x, p).data();
    const xs = x.data();
    const dy = p.dy.toArray(), dx = p.dx.toArray(), fl = p.flip.toArray();
    const clamp = (v: number, hi: number): number => Math.min(hi, Math.max(0, v));
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      // Padded image (replicated edges) cropped at offset (dy+P, dx+P), then mirrored if flipped.
      const jj = fl[b] ? W - 1 - j : j;
      const want = xs[((b * C + c) * H + clamp(i + dy[b]!, H - 1)) * W + clamp(jj + dx[b]!, W - 1)]!;
      assert.equal(out[((b * C + c) * H + i) * W + j], want, `b${b} c${c} i${i} j${j}`);
    }
    // The same through the engine's replicate pad + slices + flip, one sample at a time.
    const padded = pad(x, [P, P, P, P], 'replicate');
    const viaPad = stack(Array.from({ length: B }, (_, b) => {
      const crop = padded.select(0, b).slice(1, dy[b]! + P, dy[b]! + P + H).slice(2, dx[b]! + P, dx[b]! + P + W);
      return fl[b] ? crop.flip([2]) : crop;
    }));
    assert.deepEqual(viaPad.data(), out);
    // Every offset and both flip states occur; offsets stay in [−4, 4].
    assert.deepEqual([...new Set(dy)].sort((a, b) => a - b), [-4, -3, -2, -1, 0, 1, 2, 3, 4]);
    assert.ok(dx.every((v) => v >= -4 && v <= 4));
    assert.ok(fl.includes(1) && fl.includes(0));
  });
  assert.equal(liveTensors(), before);
});

test('augment is seeded by libtorch\'s generator and flips about half', () => {
  const x = tensor(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => i % 97), [2, 3, 32, 32]);
  manualSeed(11);
  const a = augmentBatch(x).data();
  manualSeed(11);
  const b = augmentBatch(x).data();
  assert.deepEqual(a, b);
  manualSeed(12);
  assert.notDeepEqual(augmentBatch(x).data(), a);
  manualSeed(5);
  const flips = tidy(() => sampleAugment(4000).flip.toArray().reduce((s, v) => s + v, 0));
  assert.ok(Math.abs(flips - 2000) < 150, `${flips} flips of 4000`);
  x.dispose();
});
