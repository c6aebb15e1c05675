// Batched inference over an image set, in eval mode, without autograd.
import { noGrad, tidy } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';
import { inputShape, inputBatch, type ImageInput } from '../data/dataset.js';

/** Predicted class per image (and, when asked, the softmax probabilities, n × K row-major). */
export function predict(model: Module, images: ImageInput, opts: { batch?: number; probabilities?: boolean; onBatch?: (done: number) => void } = {}):
  { classes: Int32Array; probabilities?: Float32Array } {
  const batch = opts.batch ?? 256;
  const { n } = inputShape(images);
  const classes = new Int32Array(n);
  const probs: Float32Array[] = [];
  inEval(model, () => {
    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      tidy(() => noGrad(() => {
        const z = model.call(inputBatch(images, i, b));
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
