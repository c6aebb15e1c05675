// Batched inference over an image set, in eval mode, without autograd.
import { tensor, noGrad, tidy } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';

export interface ImageBatchSource { images: Float32Array; n: number; channels: number; height: number; width: number }

/** Predicted class per image (and, when asked, the softmax probabilities, n × K row-major). */
export function predict(model: Module, set: ImageBatchSource, opts: { batch?: number; probabilities?: boolean; onBatch?: (done: number) => void } = {}):
  { classes: Int32Array; probabilities?: Float32Array } {
  const batch = opts.batch ?? 256;
  const per = set.channels * set.height * set.width;
  const classes = new Int32Array(set.n);
  const probs: Float32Array[] = [];
  inEval(model, () => {
    for (let i = 0; i < set.n; i += batch) {
      const b = Math.min(batch, set.n - i);
      tidy(() => noGrad(() => {
        const x = tensor(set.images.subarray(i * per, (i + b) * per), [b, set.channels, set.height, set.width]);
        const z = model.call(x);
        classes.set(z.argmax(1).cast('int32').data<Int32Array>(), i);
        if (opts.probabilities) probs.push(z.softmax().data());
      }));
      opts.onBatch?.(i + b);
    }
  });
  if (!opts.probabilities) return { classes };
  const all = new Float32Array(probs.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of probs) { all.set(p, o); o += p.length; }
  return { classes, probabilities: all };
}

export function accuracy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) c++;
  return pred.length === 0 ? 0 : c / pred.length;
}
