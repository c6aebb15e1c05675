export { Module, Sequential, type StateEntry } from './module.js';
export { inEval, frozen } from './modes.js';
export { Conv2d, BatchNorm2d, Linear, ReLU, HalfHuber, halfHuber, GlobalAvgPool, makeActivation, setTrainingBatchNorm, type Activation, type TrainingBatchNorm } from './layers.js';
export { PreActResNet, PreActBlock, resnetConfig, resnetStateShapes, preactResnetArchitecture, CIFAR_INPUT_OFFSET, type PreActResNetConfig } from './models/preact-resnet.js';
export { registerArchitecture, architecture, architectures, type Architecture, type InputSpec, type TrainingShape, type TensorShapes } from './models/registry.js';
