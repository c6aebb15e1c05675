// Autograd: gradients of outputs with respect to inputs, kept differentiable on request
// (create_graph: the double backprop of the Lipschitz loss), and backward into leaves' .grad.
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';

export interface GradOptions {
  /** Gradient of each output (default: ones, outputs must then be scalars). */
  gradOutputs?: Tensor[];
  /** Build a graph of the gradient itself so it can be differentiated again. */
  createGraph?: boolean;
  /** Keep the graph for another backward (defaults to createGraph). */
  retainGraph?: boolean;
  /** Return null for inputs the outputs do not depend on instead of throwing. */
  allowUnused?: boolean;
}

/** d(Σ outputs)/d(inputs), like torch.autograd.grad. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const gs = native.grad(outs.map((t) => t.h), inputs.map((t) => t.h), opts.gradOutputs?.map((t) => t.h),
    opts.retainGraph ?? null, opts.createGraph ?? false, opts.allowUnused ?? false);
  return gs.map((g) => (g === null ? null : wrap(g)));
}

/** grad() for inputs that all must receive a gradient. */
export function gradOf(output: Tensor, inputs: Tensor[], opts: Omit<GradOptions, 'allowUnused'> = {}): Tensor[] {
  return grad(output, inputs, opts) as Tensor[];
}

/** Accumulates d(t)/d(leaf) into every leaf's .grad (like Tensor.backward()). */
export function backward(t: Tensor, gradient: Tensor | null = null, retainGraph = false): void {
  native.backward(t.h, gradient?.h, retainGraph);
}
