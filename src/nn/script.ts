// TorchScript models as advexp Modules (issue 12): a module saved in PyTorch with torch.jit.script(m).save(f) or
// torch.jit.trace(m, x).save(f), run by libtorch's own interpreter (engine/jit.ts). Images [B, C, H, W] in [0, 1]
// go in; an optional per-channel mean/std given at load is applied first (a model that normalises inside needs
// none). Parameters and buffers are the module's own tensors: the trainer's SGD and requiresGrad_ act on the model.
//
// Grad-CAM reads an activation through Module.forwardHook, and TorchScript has no C++ forward hook. So the
// submodules are exposed as child Modules (proxies), and while a hook is set on one of them the forward runs the
// chain of children of every container above it instead of the jit forward (a Sequential-like container runs its
// children in order; torchvision's ResNet flattens before its Linear `fc`, so a flatten is put before a Linear child
// given a feature map). The first time a chain is used it is checked against the jit forward's logits; where it
// differs the layer is not reachable and the forward fails saying so.
import { JitModule, Tensor, keep, noGrad, tensor, tidy } from '../engine/index.js';
import { Module } from './module.js';

export interface ScriptModuleOptions {
  /** Per-channel mean subtracted before the jit forward (with std); omit for a model that normalises inside. */
  mean?: readonly number[];
  /** Per-channel standard deviation the centred input is divided by. */
  std?: readonly number[];
  /**
   * [C, H, W] of the images the model takes, used only to find the default Grad-CAM layer before the first forward
   * (after one, that forward's input shape is used). Default [3, 64, 64].
   */
  inputShape?: readonly number[];
}

/** Relative difference (of the logits' scale) up to which a chain of children counts as the model's forward. */
const CHAIN_RTOL = 1e-5;

const LINEAR = /(^|\.)torch\.nn\.modules\.linear\.Linear$/;
/** Children that reduce or reshape a feature map: never the default Grad-CAM layer. */
const NOT_CAM = /(Pool|Flatten|Dropout|Linear|Identity)[^.]*$/;

/** A submodule of a TorchScript model: a proxy whose forward is the submodule's jit forward. */
export class ScriptChild extends Module {
  readonly #root: ScriptModule;
  readonly #kids: ScriptChild[];
  /** @internal */ readonly jit: JitModule;
  /** Dotted path from the model ('layer4.1'). */
  readonly path: string;
  /** The TorchScript class ('__torch__.torch.nn.modules.container.Sequential', …). */
  readonly typeName: string;
  /** @internal */ readonly hasForward: boolean;

  /** @internal */
  constructor(root: ScriptModule, jit: JitModule, path: string, typeName: string, hasForward: boolean) {
    super();
    this.#root = root;
    this.jit = jit;
    this.path = path;
    this.typeName = typeName;
    this.hasForward = hasForward;
    this.#kids = jit.children().map((c) => new ScriptChild(root, c.module, `${path}.${c.name}`, c.typeName, c.hasForward));
    this.training = root.training;
  }
  protected forward(x: Tensor): Tensor { return this.jit.forward(x); }

  /** @internal */ get kids(): readonly ScriptChild[] { return this.#kids; }
  override children(): [string, Module][] { return this.#kids.map((k) => [k.path.slice(this.path.length + 1), k]); }
  override namedParameters(prefix = ''): [string, Tensor][] { return this.#root.under(this.path, this.#root.namedParameters(), prefix); }
  override namedBuffers(prefix = ''): [string, Tensor][] { return this.#root.under(this.path, this.#root.namedBuffers(), prefix); }
  override stateDict(): Map<string, Tensor> { return new Map([...this.namedParameters(), ...this.namedBuffers()]); }
  /** The mode is the model's: a submodule's own switch would leave the rest of the jit module out of step. */
  override train(on = true): this { this.#root.train(on); return this; }
  override dispose(): void { this.#root.dispose(); }
  /** @internal */ disposeHandles(): void { for (const k of this.#kids) k.disposeHandles(); this.jit.dispose(); }
  /** @internal */ setMode(on: boolean): void { this.training = on; for (const k of this.#kids) k.setMode(on); }
}

export class ScriptModule extends Module {
  /** The file it was loaded from. */
  readonly file: string;
  readonly jit: JitModule;
  readonly typeName: string;
  /**
   * True when the graph has batch norm or dropout with its training flag fixed (a traced module keeps the mode it
   * was traced in): train()/eval() do not reach those ops, so fine-tuning must be refused (reason: tracedReason).
   */
  readonly traced: boolean;
  /** One line saying why a traced model cannot be fine-tuned, or null. */
  readonly tracedReason: string | null;
  readonly mean: readonly number[] | null;
  readonly std: readonly number[] | null;
  readonly #kids: ScriptChild[];
  readonly #params: [string, Tensor][];
  readonly #buffers: [string, Tensor][];
  readonly #meanT: Tensor | null;
  readonly #stdT: Tensor | null;
  readonly #inputShape: number[];
  readonly #explicitShape: boolean;
  /** Sets of containers whose chain of children was checked against the jit forward. */
  readonly #verified = new Set<string>();
  #camLayer: string | null | undefined;
  #disposed = false;

  /** @internal use loadScriptModule (io/torchscript.ts) */
  constructor(file: string, jit: JitModule, opts: ScriptModuleOptions = {}) {
    super();
    this.file = file;
    this.jit = jit;
    this.typeName = jit.typeName;
    const baked = jit.modeBakedOps();
    this.traced = baked.length > 0;
    this.tracedReason = this.traced
      ? `${file}: a traced TorchScript model (${baked[0]} has its training flag fixed in the graph${baked.length > 1 ? `, and ${baked.length - 1} more` : ''}), `
        + 'so batch norm/dropout keep the mode it was traced in and it cannot be fine-tuned: export it with torch.jit.script(model).save(f)'
      : null;
    this.training = jit.training;
    const { mean, std } = checkNormalisation(file, opts);
    this.mean = mean;
    this.std = std;
    this.#meanT = mean === null ? null : keep(tensor(Float32Array.from(mean), [1, mean.length, 1, 1]));
    this.#stdT = std === null ? null : keep(tensor(Float32Array.from(std), [1, std.length, 1, 1]));
    this.#inputShape = [...(opts.inputShape ?? [mean?.length ?? 3, 64, 64])];
    this.#explicitShape = opts.inputShape !== undefined;
    this.#params = jit.namedParameters();
    this.#buffers = jit.namedBuffers();
    this.#kids = jit.children().map((c) => new ScriptChild(this, c.module, c.name, c.typeName, c.hasForward));
  }

  // ---- forward ----

  /** The jit forward; while a hook is set on a submodule, the chain of children down to it (checked once). */
  protected forward(x: Tensor): Tensor {
    this.#check(x);
    const xn = this.normalise(x);
    this.#lastShape = x.shape.slice(1);
    const chains = this.#chains();
    if (chains === null) return this.jit.forward(xn);
    this.#verify(xn, chains);
    return this.#run(null, xn, chains, true);
  }
  #lastShape: readonly number[] | null = null;

  /** (x − mean) / std per channel, or x when no normalisation was given. */
  normalise(x: Tensor): Tensor {
    if (this.#meanT === null || this.#stdT === null) return x;
    return x.sub(this.#meanT).div(this.#stdT);
  }

  #check(x: Tensor): void {
    if (this.#disposed) throw new Error(`${this.file}: the TorchScript model was disposed`);
    if (this.mean !== null && (x.rank !== 4 || x.shape[1] !== this.mean.length)) {
      throw new Error(`${this.file}: the model takes [B, ${this.mean.length}, H, W] images (mean/std have ${this.mean.length} channels), got [${x.shape.join(', ')}]`);
    }
  }

  /** Paths of the containers that must run as chains (every proper ancestor of a hooked submodule), or null. */
  #chains(): Set<string> | null {
    let out: Set<string> | null = null;
    const visit = (k: ScriptChild, ancestors: string[]): void => {
      if (k.forwardHook !== null) { out ??= new Set(); for (const a of ancestors) out.add(a); }
      for (const c of k.kids) visit(c, [...ancestors, k.path]);
    };
    for (const k of this.#kids) visit(k, ['']);
    return out;
  }

  /** Runs module m (null: the model) on x, as a chain of its children where chains says so. */
  #run(m: ScriptChild | null, x: Tensor, chains: Set<string>, hooks: boolean): Tensor {
    const path = m === null ? '' : m.path;
    let out: Tensor;
    if (chains.has(path)) {
      out = tidy(() => {
        const kids = m === null ? this.#kids : m.kids;
        let h = x;
        for (const k of kids) {
          if (!k.hasForward) throw new Error(this.#unreachable(chains, `'${k.path}' (${shortType(k.typeName)}) has no forward`));
          const input = LINEAR.test(k.typeName) && h.rank > 2 ? h.flatten(1) : h;
          const next = this.#run(k, input, chains, hooks);
          if (h !== x) h.dispose();
          h = next;
        }
        return h;
      });
    } else {
      out = m === null ? this.jit.forward(x) : m.jit.forward(x);
    }
    return hooks && m !== null && m.forwardHook !== null ? m.forwardHook(out) : out;
  }

  /** Checks once per set of chains, in eval mode and without hooks, that the chain gives the jit forward's logits. */
  #verify(xn: Tensor, chains: Set<string>): void {
    const key = [...chains].sort().join('|');
    if (this.#verified.has(key)) return;
    const was = this.training;
    const mismatch = noGrad(() => tidy(() => {
      this.jit.train(false);
      try {
        const ref = this.jit.forward(xn);
        let alt: Tensor;
        try {
          alt = this.#run(null, xn, chains, false);
        } catch (e) {
          const msg = (e as Error).message;
          return msg.includes('not reachable') ? msg : this.#unreachable(chains, `running them fails: ${msg.split('\n')[0]}`);
        }
        if (alt.shape.length !== ref.shape.length || alt.shape.some((s, i) => s !== ref.shape[i])) {
          return this.#unreachable(chains, `they give [${alt.shape.join(', ')}], the model [${ref.shape.join(', ')}]`);
        }
        const scale = ref.abs().amax().item();
        const diff = alt.sub(ref).abs().amax().item();
        if (!(diff <= CHAIN_RTOL * Math.max(scale, 1e-30))) {
          return this.#unreachable(chains, `they do not reproduce the model's forward (logits differ by ${diff.toExponential(2)} of scale ${scale.toExponential(2)})`);
        }
        return null;
      } finally {
        this.jit.train(was);
      }
    }));
    if (mismatch !== null) throw new Error(mismatch);
    this.#verified.add(key);
  }

  #unreachable(chains: Set<string>, why: string): string {
    const hooked: string[] = [];
    const visit = (k: ScriptChild): void => { if (k.forwardHook !== null) hooked.push(k.path); k.kids.forEach(visit); };
    this.#kids.forEach(visit);
    const containers = [...chains].map((c) => (c === '' ? 'the model' : `'${c}'`)).join(', ');
    return `layer '${hooked.join("', '")}' is not reachable in the TorchScript model ${this.file}: it is read by running the children of ${containers} in order, and ${why} `
      + '(a layer is reachable when every container above it computes just its children in order, like nn.Sequential)';
  }

  // ---- the Module contract ----

  override children(): [string, Module][] { return this.#kids.map((k) => [k.path, k]); }
  override namedParameters(prefix = ''): [string, Tensor][] { return this.#params.map(([n, t]) => [prefix + n, t]); }
  override parameters(): Tensor[] { return this.#params.map(([, t]) => t); }
  override namedBuffers(prefix = ''): [string, Tensor][] { return this.#buffers.map(([n, t]) => [prefix + n, t]); }
  override stateDict(): Map<string, Tensor> { return new Map([...this.#params, ...this.#buffers]); }

  /** @internal The entries of list under a submodule path, renamed relative to it. */
  under(path: string, list: [string, Tensor][], prefix: string): [string, Tensor][] {
    const p = `${path}.`;
    return list.filter(([n]) => n.startsWith(p)).map(([n, t]) => [prefix + n.slice(p.length), t]);
  }

  /** Switches the jit module (and every submodule) between train and eval mode. */
  override train(on = true): this {
    this.jit.train(on);
    this.training = on;
    for (const k of this.#kids) k.setMode(on);
    return this;
  }

  /**
   * The default Grad-CAM layer: the last top-level child with a 4-D output that is not a pooling/flatten/linear
   * layer, when running the children in order reproduces the model's forward; null otherwise (then name a layer).
   */
  override camLayer(): string | null {
    if (this.#camLayer !== undefined) return this.#camLayer;
    const shape = [1, ...(this.#lastShape ?? this.#inputShape)];
    // A probe on the guessed default shape may fail for a model of another input size: ask again after a forward.
    const guessed = this.#lastShape === null && this.#explicitShape === false;
    const found = this.#findCamLayer(shape);
    if (found !== null || !guessed) this.#camLayer = found;
    return found;
  }

  #findCamLayer(shape: number[]): string | null {
    if (this.#kids.length === 0 || this.#kids.some((k) => !k.hasForward)) return null;
    const was = this.training;
    try {
      return noGrad(() => tidy(() => {
        this.jit.train(false);
        const x = this.normalise(tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape));
        const ref = this.jit.forward(x);
        let h = x;
        let best: string | null = null;
        for (const k of this.#kids) {
          h = k.jit.forward(LINEAR.test(k.typeName) && h.rank > 2 ? h.flatten(1) : h);
          if (h.rank === 4 && !NOT_CAM.test(k.typeName)) best = k.path;
        }
        const scale = ref.abs().amax().item();
        const same = h.shape.length === ref.shape.length && h.shape.every((s, i) => s === ref.shape[i])
          && h.sub(ref).abs().amax().item() <= CHAIN_RTOL * Math.max(scale, 1e-30);
        return same ? best : null;
      }));
    } catch {
      return null;
    } finally {
      this.jit.train(was);
    }
  }

  /** The module with its current parameters and buffers as a TorchScript archive (io/torchscript.ts writes files). */
  serialize(): Uint8Array { return this.jit.serialize(); }

  /** Frees the jit module, its submodule handles, the parameter and buffer handles and the normalisation. */
  override dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const [, t] of [...this.#params, ...this.#buffers]) t.dispose();
    this.#meanT?.dispose();
    this.#stdT?.dispose();
    for (const k of this.#kids) k.disposeHandles();
    this.jit.dispose();
  }
}

function shortType(t: string): string { return t.split('.').pop() ?? t; }

export function checkNormalisation(file: string, opts: ScriptModuleOptions): { mean: number[] | null; std: number[] | null } {
  const { mean, std } = opts;
  if (mean === undefined && std === undefined) return { mean: null, std: null };
  if (mean === undefined || std === undefined) throw new Error(`${file}: give both mean and std, or neither`);
  if (mean.length === 0 || mean.length !== std.length) throw new Error(`${file}: mean has ${mean.length} values and std ${std.length}: give one per channel`);
  if (!mean.every(Number.isFinite)) throw new Error(`${file}: mean must be finite numbers, got [${mean.join(', ')}]`);
  if (!std.every((s) => Number.isFinite(s) && s > 0)) throw new Error(`${file}: std must be positive numbers, got [${std.join(', ')}]`);
  return { mean: [...mean], std: [...std] };
}
