// A byte image set held in native memory for training: batches are gathered and converted to float there,
// so the hot path never walks pixels in JS.
import { Tensor, tensor, keep, tidy } from '../engine/index.js';
import type { ByteImageSet } from './dataset.js';

export class TensorImageSet {
  /** uint8 [N, C, H, W]. */
  readonly images: Tensor;
  /** int64 [N]. */
  readonly labels: Tensor;
  readonly n: number;
  readonly shape: [number, number, number];
  constructor(set: ByteImageSet) {
    this.n = set.n;
    this.shape = [set.channels, set.height, set.width];
    this.images = keep(tensor(set.pixels, [set.n, set.channels, set.height, set.width]));
    this.labels = keep(tidy(() => tensor(set.labels, [set.n]).cast('int64')));
  }
  /** Images (float32 in [0,1], byte/255) and labels (int64) at the given int64 indices. */
  gather(indices: Tensor): { x: Tensor; y: Tensor } {
    return tidy(() => ({ x: this.images.indexSelect(0, indices).cast('float32').div(255), y: this.labels.indexSelect(0, indices) }));
  }
  /** Images and labels [start, end) in stored order. */
  range(start: number, end: number): { x: Tensor; y: Tensor } {
    return tidy(() => ({ x: this.images.slice(0, start, end).cast('float32').div(255), y: this.labels.slice(0, start, end) }));
  }
  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }
}
