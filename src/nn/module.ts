// Module: a tree of named parameters, buffers and children, with state-dict names built like
// PyTorch's ("pipe.1.0.main.3.weight"), so weights saved by the reference load as they are.
import { Tensor, keep, tidy, noGrad, type TypedArray } from '../engine/index.js';
import { tensor } from '../engine/index.js';

export interface StateEntry { shape: readonly number[]; data: TypedArray }

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** The computation. Call modules with call(), which frees intermediates as soon as they are dead. */
  protected abstract forward(x: Tensor): Tensor;

  /**
   * Optional forward hook (like PyTorch's register_forward_hook): call() hands it this module's output and returns
   * what the hook returns, so a hook can read an inner activation (Grad-CAM) or replace it. It runs in the caller's
   * scope; a Sequential parent disposes the returned tensor once the next layer has run, so a hook that keeps the
   * activation must return a different tensor (e.g. a view). Null by default: one check per call.
   */
  forwardHook: ((output: Tensor) => Tensor) | null = null;

  /** Runs forward in its own scope: only the output survives (autograd keeps what backward needs). */
  call(x: Tensor): Tensor {
    const out = tidy(() => this.forward(x));
    return this.forwardHook === null ? out : this.forwardHook(out);
  }

  protected registerParameter(name: string, t: Tensor): Tensor {
    keep(t).requiresGrad_(true);
    this.#params.set(name, t);
    return t;
  }
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.#buffers.set(name, keep(t));
    return t;
  }
  protected registerChild<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }
  /** Called after loadStateDict so modules can refresh values they cache from buffers. */
  protected afterLoad(): void {}

  children(): [string, Module][] { return [...this.#children]; }

  /**
   * Dotted path of the layer Grad-CAM reads by default (the last convolutional stage), or null when the model has
   * none (then the caller must name one). Architectures override it.
   */
  camLayer(): string | null { return null; }

  /** The registered architecture and config that rebuild this network (model files store them); null for others. */
  architecture(): { name: string; config: object } | null { return null; }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] { return this.namedParameters().map(([, p]) => p); }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.#buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Parameters and buffers by full name, in registration order (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const visit = (m: Module, prefix: string): void => {
      for (const [n, p] of m.#params) out.set(prefix + n, p);
      for (const [n, b] of m.#buffers) out.set(prefix + n, b);
      for (const [n, c] of m.#children) visit(c, `${prefix}${n}.`);
    };
    visit(this, '');
    return out;
  }

  /**
   * Copies values into the parameters and buffers. strict: every name must be present on both
   * sides. Shape mismatches always throw, naming the tensor.
   */
  loadStateDict(entries: Map<string, StateEntry | Tensor>, strict = true): void {
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !entries.has(k));
      const unexpected = [...entries.keys()].filter((k) => !own.has(k));
      if (missing.length > 0 || unexpected.length > 0) {
        const parts: string[] = [];
        if (missing.length) parts.push(`missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (+${missing.length - 5})` : ''}`);
        if (unexpected.length) parts.push(`unexpected ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` (+${unexpected.length - 5})` : ''}`);
        throw new Error(`state dict does not fit the network: ${parts.join('; ')}`);
      }
    }
    noGrad(() => tidy(() => {
      for (const [name, target] of own) {
        const src = entries.get(name);
        if (src === undefined) continue;
        const shape = src instanceof Tensor ? src.shape : src.shape;
        if (shape.length !== target.shape.length || shape.some((s, i) => s !== target.shape[i])) {
          throw new Error(`tensor ${name}: shape [${shape.join(',')}] does not fit the network's [${target.shape.join(',')}]`);
        }
        const value = src instanceof Tensor ? src : tensor(src.data, src.shape);
        target.copy_(value.dtype === target.dtype ? value : value.cast(target.dtype));
      }
    }));
    const refresh = (m: Module): void => { m.afterLoad(); for (const [, c] of m.#children) refresh(c); };
    refresh(this);
  }

  train(on = true): this {
    this.training = on;
    for (const [, c] of this.#children) c.train(on);
    return this;
  }
  eval(): this { return this.train(false); }

  /** Turns gradient recording of all parameters on or off (off for attacks and explanations). */
  requiresGrad_(on: boolean): this {
    for (const p of this.parameters()) p.requiresGrad_(on);
    return this;
  }

  numParameters(): number { return this.parameters().reduce((s, p) => s + p.size, 0); }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const t of this.stateDict().values()) t.dispose();
  }
}

/** Children applied in order, named "0", "1", … (torch.nn.Sequential). */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerChild(String(i), m));
  }
  protected forward(x: Tensor): Tensor { return applyInOrder(x, this.layers); }
}

/**
 * Calls the modules in order on x, as a Sequential does, and frees each intermediate as soon as the next exists
 * (Python's refcounting does the same); the autograd graph keeps its own reference when backward needs it. Fewer
 * live buffers means fewer fresh pages to fault in. x itself is never freed. For architectures whose modules are
 * named like PyTorch's (conv1, bn1, …) rather than held in a Sequential.
 */
export function applyInOrder(x: Tensor, modules: readonly Module[]): Tensor {
  let h = x;
  for (const m of modules) {
    const next = m.call(h);
    if (h !== x) h.dispose();
    h = next;
  }
  return h;
}
