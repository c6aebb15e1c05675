// Small float64 networks for the explainer tests: a conv → half-Huber body (a named child, Grad-CAM's layer) and a
// non-linear head, so gradients vary with position and finite differences are exact to ~1e-8.
import { conv2d, linear, manualSeed, randn, type Tensor } from '../../src/engine/index.js';
import { Module, Sequential, halfHuber } from '../../src/nn/index.js';

export class ConvAct extends Module {
  readonly weight: Tensor;
  constructor(w: Tensor, readonly stride = 1) {
    super();
    this.weight = this.registerParameter('weight', w);
  }
  protected forward(x: Tensor): Tensor { return halfHuber(conv2d(x, this.weight, null, { padding: 1, stride: this.stride }), 0.5); }
}

/** z = W · mean_{h,w}(halfHuber(A) + A²/4) + b: ∂z/∂A depends on A, so Grad-CAM's α is a real spatial mean. */
export class Head extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(w: Tensor, b: Tensor) {
    super();
    this.weight = this.registerParameter('weight', w);
    this.bias = this.registerParameter('bias', b);
  }
  protected forward(a: Tensor): Tensor { return linear(halfHuber(a, 0.5).add(a.square().mul(0.25)).mean([2, 3]), this.weight, this.bias); }
}

export class Tiny64 extends Module {
  readonly body: Sequential;
  readonly head: Head;
  constructor(seed = 1, classes = 4) {
    super();
    manualSeed(seed);
    const o = { dtype: 'float64' as const };
    this.body = this.registerChild('body', new Sequential([new ConvAct(randn([4, 3, 3, 3], o).mul(0.4)), new ConvAct(randn([5, 4, 3, 3], o).mul(0.3), 2)]));
    this.head = this.registerChild('head', new Head(randn([classes, 5], o), randn([classes], o).mul(0.1)));
  }
  protected forward(x: Tensor): Tensor { return this.head.call(this.body.call(x)); }
}

/** A linear model: z = W · flatten(x) + b (float64), for exact identities. */
export class Linear64 extends Module {
  readonly weight: Tensor;
  constructor(inputs: number, classes: number, seed = 2) {
    super();
    manualSeed(seed);
    this.weight = this.registerParameter('weight', randn([classes, inputs], { dtype: 'float64' }));
  }
  protected forward(x: Tensor): Tensor { return linear(x.flatten(1), this.weight); }
}
