export { Module, Sequential, type StateEntry } from './module.js';
export { inEval, frozen } from './modes.js';
export { Conv2d, BatchNorm2d, Linear, ReLU, HalfHuber, halfHuber, GlobalAvgPool, makeActivation, type Activation } from './layers.js';
export { PreActResNet, PreActBlock, resnetConfig, resnetStateShapes, preactResnetArchitecture, CIFAR_INPUT_OFFSET, type PreActResNetConfig } from './models/preact-resnet.js';
export { registerArchitecture, architecture, architectures, architectureNames, resolveArchitecture, type Architecture, type InputSpec, type TrainingShape, type TensorShapes } from './models/registry.js';
export { ScriptModule, ScriptChild, type ScriptModuleOptions } from './script.js';
