// advexp's library API. Everything a user needs is reachable from here; deeper imports also work.
export * from './engine/index.js';
export * from './nn/index.js';
export { loadModel, saveModel, inferConfig, type LoadedModel } from './io/model-file.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type StFile, type StTensor, type StDtype } from './io/safetensors.js';
export { readCifarBatch, readCifarClassNames, CIFAR10_CLASSES, type ImageSet } from './data/cifar.js';
export { lipschitzLoss, smoothedOutputs, sampleChoices, AdaptivePsi, type LipschitzLoss, type SmoothingChoices } from './train/lipschitz.js';
export { predict, accuracy } from './metrics/predict.js';
export * from './explain/index.js';
