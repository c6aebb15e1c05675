// Which classes to explain for each image: the paper's figures show the true class, the most confident wrong
// class, and every class. Specs expand into (image, target) pairs, the explainers' input.

/** 'true': the label (the predicted class when there is no label); 'second': the most confident class other than
 * that one; 'all': every class in order; a number: that class. */
export type TargetSpec = 'true' | 'second' | 'all' | number;

export interface TargetPair {
  /** Index of the image the pair explains. */
  image: number;
  target: number;
  /** How the target was chosen: 'true', 'second', 'all' or 'given'. */
  kind: 'true' | 'second' | 'all' | 'given';
}

/** Parses "true,second,all,3" (one-line errors name the flag). */
export function parseTargetSpecs(text: string, classes: number, flag = 'targets'): TargetSpec[] {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new Error(`--${flag}: empty list`);
  return items.map((s) => {
    if (s === 'true' || s === 'second' || s === 'all') return s;
    const k = Number(s);
    if (!/^\d+$/.test(s) || k >= classes) throw new Error(`--${flag}: '${s}' is not true, second, all or a class 0..${classes - 1}`);
    return k;
  });
}

/**
 * Expands specs into pairs, image by image, in the order given (duplicates are kept: "true,all" explains the
 * true class twice, as the paper's figures show it twice). probs: n × K softmax probabilities of the clean images;
 * labels: the true classes, or null (then 'true' is the predicted class).
 */
export function expandTargets(probs: Float32Array, classes: number, labels: Int32Array | null, specs: readonly TargetSpec[]): TargetPair[] {
  const n = probs.length / classes;
  if (!Number.isInteger(n)) throw new Error(`expandTargets: ${probs.length} probabilities are not a multiple of ${classes} classes`);
  if (labels !== null && labels.length !== n) throw new Error(`expandTargets: ${labels.length} labels for ${n} images`);
  const out: TargetPair[] = [];
  for (let i = 0; i < n; i++) {
    const p = probs.subarray(i * classes, (i + 1) * classes);
    const top = argmaxExcept(p, -1);
    const truth = labels === null ? top : labels[i]!;
    for (const s of specs) {
      if (s === 'true') out.push({ image: i, target: truth, kind: 'true' });
      else if (s === 'second') out.push({ image: i, target: argmaxExcept(p, truth), kind: 'second' });
      else if (s === 'all') for (let k = 0; k < classes; k++) out.push({ image: i, target: k, kind: 'all' });
      else {
        if (!Number.isInteger(s) || s < 0 || s >= classes) throw new Error(`target ${s} outside 0..${classes - 1}`);
        out.push({ image: i, target: s, kind: 'given' });
      }
    }
  }
  return out;
}

/** Index of the largest value, skipping index `skip` (first index on ties). */
export function argmaxExcept(p: ArrayLike<number>, skip: number): number {
  let best = -1;
  for (let k = 0; k < p.length; k++) if (k !== skip && (best < 0 || p[k]! > p[best]!)) best = k;
  return best;
}
