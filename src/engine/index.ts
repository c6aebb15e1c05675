// The engine: advexp's TypeScript face of libtorch.
export { Tensor, tidy, keep, dispose, noGrad, enableGrad, isGradEnabled, liveTensors } from './tensor.js';
export type { Dtype, TypedArray } from './native.js';
export * from './creation.js';
export * from './functional.js';
export * from './autograd.js';
export * from './runtime.js';
export * from './random.js';
export { JitModule, liveJitModules, jitExecutor, type JitChild, type JitExecutorSettings } from './jit.js';
