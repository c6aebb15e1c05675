// TorchScript modules through libtorch's torch::jit: the engine's thin face of native/src/jit.cc. A JitModule is a
// handle into the binding's slab of modules, freed by dispose() (no finaliser, like tensors). A child handle shares
// its parent's module object: updating a child's parameter updates the model. nn/script.ts builds the Module on it.
import { native } from './native.js';
import { Tensor, keep, wrap } from './tensor.js';

export interface JitChild {
  name: string;
  module: JitModule;
  /** The TorchScript class, e.g. '__torch__.torch.nn.modules.conv.Conv2d' or '__torch__.torchvision.models.resnet.BasicBlock'. */
  typeName: string;
  /** Whether it has a forward method (a ModuleList or ModuleDict has none). */
  hasForward: boolean;
}

export class JitModule {
  /** @internal */
  readonly id: number;
  #disposed = false;
  private constructor(id: number) { this.id = id; }

  /**
   * Loads a TorchScript archive (torch.jit.script(m).save(f) or torch.jit.trace(m, x).save(f)) onto the CPU.
   * Throws libtorch's one-line message ("libtorch: …"); nn/script.ts names the file and explains pickles.
   */
  static load(file: string): JitModule { return new JitModule(native.jitLoad(file)); }

  /** The module's forward on one tensor, recorded by autograd (first and second order). A tuple output gives its first element. */
  forward(x: Tensor): Tensor { return wrap(oneLine(() => native.jitForward(this.id, x.h))); }
  /** Forward of the submodule at a dotted path ('layer4.1'; '' is this module). */
  callModule(path: string, x: Tensor): Tensor { return wrap(oneLine(() => native.jitCallModule(this.id, path, x.h))); }

  train(on = true): void { native.jitTrain(this.id, on); }
  get training(): boolean { return native.jitIsTraining(this.id); }

  /**
   * Parameters and buffers (recursive, PyTorch's state-dict names): new handles on the module's own tensors, so
   * requiresGrad_ and in-place updates reach the module. They are kept out of every scope: the caller disposes them
   * (which frees the handles, not the module's tensors).
   */
  namedParameters(): [string, Tensor][] { return native.jitNamedParameters(this.id).map(([n, h]) => [n, keep(wrap(h))]); }
  namedBuffers(): [string, Tensor][] { return native.jitNamedBuffers(this.id).map(([n, h]) => [n, keep(wrap(h))]); }

  /** Direct children in definition order, each a new handle the caller disposes. */
  children(): JitChild[] {
    return native.jitChildren(this.id).map(([name, id, typeName, hasForward]) => ({ name, module: new JitModule(id), typeName: demangle(typeName), hasForward }));
  }
  /** Every submodule by dotted name ('' is this module) with its TorchScript class. */
  namedModules(): [string, string][] { return native.jitNamedModules(this.id).map(([n, t]) => [n, demangle(t)]); }
  get typeName(): string { return demangle(native.jitTypeName(this.id)); }

  /** The module as a TorchScript archive (what torch.jit.load reads). */
  serialize(): Uint8Array { return native.jitSave(this.id); }

  /**
   * Mode-dependent ops (batch norm, instance norm, dropout) whose training flag is a constant of the graph, as
   * 'submodule: op'. A traced module has them (the tracer records the mode it ran in); a scripted one reads
   * self.training instead, so the list is empty.
   */
  modeBakedOps(): string[] { return native.jitModeBaked(this.id); }
  /** The forward method's graph as text (diagnostics). */
  graph(): string { return native.jitCode(this.id); }

  get isDisposed(): boolean { return this.#disposed; }
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    native.jitDispose(this.id);
  }
}

/**
 * The interpreter's errors carry two tracebacks (serialized and original code) before the error itself, e.g.
 * 'RuntimeError: Given groups=1, weight of size [8, 3, 3, 3], expected input[1, 4, 16, 16] to have 3 channels…':
 * keep that last line, so the error is one line like every other.
 */
function oneLine<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const msg = (e as Error).message;
    if (!msg.includes('\n')) throw e;
    const last = msg.trim().split('\n').pop()!.trim();
    throw new Error(`libtorch: TorchScript forward failed: ${last}`);
  }
}

/** TorchScript renames a class compiled twice with different attributes ('…conv.___torch_mangle_22.Conv2d'): drop that. */
function demangle(typeName: string): string { return typeName.replace(/\.___torch_mangle_\d+/g, ''); }

/** Modules alive in the binding's slab (a leak check, like liveTensors). */
export function liveJitModules(): number { return native.jitLiveModules(); }

export interface JitExecutorSettings {
  /** libtorch's graph executor optimisations (torch::jit::setGraphExecutorOptimize); default on. */
  optimize: boolean;
  /** The profiling executor (torch._C._jit_set_profiling_executor/mode); default on. */
  profiling: boolean;
}
/** Sets the process-wide TorchScript executor settings given; returns the previous ones. */
export function jitExecutor(set: Partial<JitExecutorSettings> = {}): JitExecutorSettings { return native.jitExecutor(set); }
