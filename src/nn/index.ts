export { Module, Sequential, type StateEntry } from './module.js';
export { inEval, frozen, statisticsFrozen } from './modes.js';
export { Conv2d, BatchNorm2d, Linear, ReLU, HalfHuber, halfHuber, halfHuberComposite, GlobalAvgPool, makeActivation, type Activation } from './layers.js';
export { PreActResNet, PreActBlock, resnetConfig, resnetStateShapes, CIFAR_INPUT_OFFSET, type PreActResNetConfig } from './models/preact-resnet.js';
