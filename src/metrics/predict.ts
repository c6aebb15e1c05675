// Batched inference over an image set, in eval mode, without autograd.
import { noGrad, tidy } from '../engine/index.js';
import { inEval, type Module } from '../nn/index.js';
import { inputShape, inputBatch, type ImageInput } from '../data/dataset.js';

/** Predicted class per image (and, when asked, the softmax probabilities, n × K row-major). */
export function predict(model: Module, images: ImageInput, opts: { batch?: number; probabilities?: boolean; logits?: boolean; onBatch?: (done: number) => void } = {}):
  { classes: Int32Array; probabilities?: Float32Array; logits?: Float32Array } {
  const batch = opts.batch ?? 256;
  const { n } = inputShape(images);
  const classes = new Int32Array(n);
  const probs: Float32Array[] = [], raw: Float32Array[] = [];
  inEval(model, () => {
    for (let i = 0; i < n; i += batch) {
      const b = Math.min(batch, n - i);
      tidy(() => noGrad(() => {
        const z = model.call(inputBatch(images, i, b));
        classes.set(z.argmax(1).cast('int32').data<Int32Array>(), i);
        if (opts.probabilities) probs.push(z.softmax().data());
        // Raw logits: a saturated float32 softmax ties scores (an AUC needs their order).
        if (opts.logits) raw.push(z.data());
      }));
      opts.onBatch?.(i + b);
    }
  });
  const joined = (parts: Float32Array[]): Float32Array => {
    const all = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return all;
  };
  return { classes, ...(opts.probabilities ? { probabilities: joined(probs) } : {}), ...(opts.logits ? { logits: joined(raw) } : {}) };
}

export function accuracy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) c++;
  return pred.length === 0 ? 0 : c / pred.length;
}
