// advexp's library API. Everything a user needs is reachable from here; deeper imports also work.
export * from './engine/index.js';
export * from './nn/index.js';
export { loadModel, saveModel, readSidecar, type LoadedModel, type ModelInput, type ModelOverrides } from './io/model-file.js';
export { loadScriptModule, saveScriptModule, TORCHSCRIPT_EXPORT_HINT } from './io/torchscript.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, type StFile, type StTensor, type StDtype } from './io/safetensors.js';
export { readCifarBatch, readCifarClassNames, loadCifarFiles, loadCifarArchive, CIFAR10_CLASSES, CIFAR_SHAPE } from './data/cifar.js';
export { ImageDataset, splitValidation, type ImageShape, type ImageInput } from './data/dataset.js';
export { loadDataset, type LoadOptions } from './data/load.js';
export { loadImageFolder } from './data/images.js';
export { decodeImage, decodeImageFile, checkImageHeader, type DecodedImage, type ImageFormat } from './data/decode.js';
export { lipschitzLoss, smoothedOutputs, sampleChoices, AdaptivePsi, type LipschitzLoss, type SmoothingChoices, type PenaltyOptions } from './train/lipschitz.js';
export { predict, accuracy } from './metrics/predict.js';
export * from './explain/index.js';
export * from './attack/index.js';
// Robustness metrics: ARA (METHOD.md §6), accuracy-vs-perturbation curves, robust accuracy under PGD.
export {
  araExact, araHistogram, accuracyAt, accuracyCurve, araDistances, araOf, evaluateAra, ARA_TYPES,
  type AraType, type AraOptions, type AraDistances, type AraValue,
} from './metrics/ara.js';
export { deletionInsertion, type Faithfulness, type FaithfulnessOptions } from './metrics/faithfulness.js';
export { robustAccuracy, robustBenchPgd, ROBUSTBENCH_EPS, type RobustAccuracy } from './metrics/robust-accuracy.js';
// Plots of accuracy vs RMS perturbation (SVG, PNG).
export { accuracyPlotSvg, accuracyPlotScene, araFigure, l2Marker, sceneToSvg, type CurveSeries, type ModelDistances, type PlotOptions } from './report/plot.js';
export { accuracyPlotPng, sceneToPng } from './report/plot-png.js';
