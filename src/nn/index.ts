export { Module, Sequential, applyInOrder, type StateEntry } from './module.js';
export { inEval, frozen, statisticsFrozen, batchNormLayers } from './modes.js';
export {
  Conv2d, BatchNorm2d, Linear, ReLU, HalfHuber, halfHuber, halfHuberComposite, GlobalAvgPool, MaxPool2d, AdaptiveAvgPool2d, dropout,
  InputNormalisation, withoutBatchCounters, BATCH_COUNTER, makeActivation, setTrainingBatchNorm, type Activation, type TrainingBatchNorm,
} from './layers.js';
export { PreActResNet, PreActBlock, resnetConfig, resnetStateShapes, preactResnetArchitecture, CIFAR_INPUT_OFFSET, type PreActResNetConfig } from './models/preact-resnet.js';
export { registerArchitecture, architecture, architectures, architectureNames, resolveArchitecture, type Architecture, type InputSpec, type TrainingShape, type TensorShapes } from './models/registry.js';
export { ScriptModule, ScriptChild, type ScriptModuleOptions } from './script.js';
export {
  TorchvisionResNet, BasicBlock, Bottleneck, torchvisionResnetConfig, checkTorchvisionResnetConfig, torchvisionResnetStateShapes,
  inferTorchvisionResnetConfig, describeTorchvisionResnet, torchvisionResnetArchitecture,
  IMAGENET_MEAN, IMAGENET_STD, type TorchvisionResNetConfig,
} from './models/torchvision-resnet.js';
export {
  WideResNet, WideBlock, WideGroup, wideResnetConfig, checkWideResnetConfig, wideResnetStateShapes,
  inferWideResnetConfig, describeWideResnet, wideResnetArchitecture, type WideResNetConfig,
} from './models/wide-resnet.js';
