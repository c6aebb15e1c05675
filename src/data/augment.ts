// Training augmentation of METHOD.md §3 on whole batches with tensor ops: pad 4 px by edge replication, random
// crop back to H×W, horizontal flip with p = 0.5. Draws come from libtorch's seeded generator.
//
// Replicate-padding by p and cropping at offset o ∈ [0, 2p] equals reading the source at clamp(i + o − p),
// so a crop (and its flip) is two gathers with clamped indices: no padded copy, no per-pixel JS.
import { Tensor, tidy, randint, rand, arange, where, full } from '../engine/index.js';

export interface AugmentParams {
  /** Vertical and horizontal shift per sample, int64 [B] in [−pad, pad] (crop offset − pad). */
  dy: Tensor;
  dx: Tensor;
  /** Flip per sample, bool [B]. */
  flip: Tensor;
}

export const AUGMENT_PAD = 4;

/** Draws the per-sample crop offsets and flips (in this order: dy, dx, flip). */
export function sampleAugment(batch: number, pad = AUGMENT_PAD, flipProbability = 0.5): AugmentParams {
  return tidy(() => ({
    dy: randint(-pad, pad + 1, [batch]),
    dx: randint(-pad, pad + 1, [batch]),
    flip: rand([batch]).lt(flipProbability),
  }));
}

/** Applies given crop shifts and flips to x [B, C, H, W]: out[b,c,i,j] = x[b,c,clampH(i+dy), clampW(fj+dx)], fj = flip ? W−1−j : j. */
export function applyAugment(x: Tensor, p: AugmentParams): Tensor {
  return tidy(() => {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    // Index arithmetic stays int64 (scalar operands would promote to float).
    const i64 = (v: number): Tensor => full([], v, { dtype: 'int64' });
    const rows = arange(0, h).unsqueeze(0).add(p.dy.unsqueeze(1)).clamp(i64(0), i64(h - 1));      // [B, H]
    const cols = where(p.flip.unsqueeze(1), arange(w - 1, -1, -1).unsqueeze(0), arange(0, w).unsqueeze(0))
      .add(p.dx.unsqueeze(1)).clamp(i64(0), i64(w - 1));                                          // [B, W]
    const byRow = x.gather(2, rows.reshape([b, 1, h, 1]).expand([b, c, h, w]));
    return byRow.gather(3, cols.reshape([b, 1, 1, w]).expand([b, c, h, w]));
  });
}

/** Pad-crop-flip augmentation of a batch, drawn from the seeded generator (flipProbability 0: no flips, same draws). */
export function augmentBatch(x: Tensor, pad = AUGMENT_PAD, flipProbability = 0.5): Tensor {
  return tidy(() => applyAugment(x, sampleAugment(x.shape[0]!, pad, flipProbability)));
}
