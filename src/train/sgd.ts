// SGD with momentum and weight decay, PyTorch semantics (torch.optim.SGD, dampening 0, not Nesterov):
//   d = g + wd·p;  buf = m·buf + d  (buf = d on the first step);  p = p − lr·buf
// The op sequence is the same as PyTorch's, so a step matches it to the last bit on the same kernels.
import { Tensor, keep, tidy, noGrad, tensor } from '../engine/index.js';

export interface SgdOptions { lr: number; momentum: number; weightDecay: number }

export class Sgd {
  readonly params: Tensor[];
  /** Momentum buffers, one per parameter, created on the first step (like PyTorch's lazy state). */
  buffers: (Tensor | null)[];
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  constructor(params: Tensor[], opts: SgdOptions) {
    this.params = params;
    this.buffers = params.map(() => null);
    this.lr = opts.lr;
    this.momentum = opts.momentum;
    this.weightDecay = opts.weightDecay;
  }

  /** Clears every parameter's .grad (set to none, PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** One update from the parameters' .grad (parameters without a gradient are skipped, as in PyTorch). */
  step(): void {
    noGrad(() => tidy(() => {
      this.params.forEach((p, i) => {
        const g = p.grad;
        if (g === null) return;
        // In place on the gradient (cleared before the next backward anyway), through the same fused
        // a + alpha·b kernel PyTorch's d_p.add(p, alpha=wd) uses.
        const d = this.weightDecay !== 0 ? g.add_(p, this.weightDecay) : g;
        let buf = this.buffers[i];
        if (this.momentum !== 0) {
          if (buf === null || buf === undefined) {
            buf = this.buffers[i] = keep(d.clone());
          } else {
            buf.mul_(this.momentum).add_(d);
          }
          p.add_(buf, -this.lr);
        } else {
          p.add_(d, -this.lr);
        }
      });
    }));
  }

  /** The momentum buffers as float32 arrays (null where no step has happened yet). */
  state(): (Float32Array | null)[] {
    return this.buffers.map((b) => (b === null ? null : b.data()));
  }

  /** Restores momentum buffers saved by state(); shapes must match the parameters. */
  loadState(buffers: (Float32Array | null)[]): void {
    if (buffers.length !== this.params.length) throw new Error(`optimizer state has ${buffers.length} buffers, the model ${this.params.length} parameters`);
    this.disposeBuffers();
    this.buffers = buffers.map((b, i) => {
      if (b === null) return null;
      const p = this.params[i]!;
      if (b.length !== p.size) throw new Error(`optimizer buffer ${i}: ${b.length} values, parameter has ${p.size}`);
      return keep(tidy(() => tensor(b, p.shape)));
    });
  }

  disposeBuffers(): void {
    for (const b of this.buffers) b?.dispose();
    this.buffers = this.params.map(() => null);
  }
}
