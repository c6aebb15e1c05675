// A small seeded generator in plain JS, beside libtorch's (runtime.ts manualSeed): data splits, LIME masks,
// SmoothGrad noise and random baseline maps draw from it, so they repeat exactly and never move libtorch's RNG
// (training's augmentation and initialisation stay where they were).

/** mulberry32: a uniform [0, 1) generator from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let a = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
