// The trainer as a library (`advexp/train`): run a training the paper's way, or drive its pieces.
export { runTraining, prepareData, evaluate, batchesPerEpoch, trainingRecord, Trainer, TrainingError, TrainInputError, MODEL_FILE, LOG_FILE,
  type RunOptions, type RunResult, type PreparedData, type BatchInfo, type StepResult } from './trainer.js';
export { defaultTrainOptions, checkOptions, TRAIN_MODES, type TrainMode, type TrainOptions } from './options.js';
export { saveCheckpoint, loadCheckpoint, STATE_FILE, type TrainState, type EpochRecord, type LoadedCheckpoint } from './checkpoint.js';
export { acquireRunLock, RunLock, RunLockedError, LOCK_FILE } from './lock.js';
export { lipschitzLoss, smoothedOutputs, sampleChoices, AdaptivePsi, type LipschitzLoss, type SmoothingChoices } from './lipschitz.js';
export { budgetTrainingAttack, minimalTrainingAttack, paperTrainingAttack, type AdversarialBatchFn, type TrainingAttackOptions } from './adversarial.js';
export { Sgd, type SgdOptions } from './sgd.js';
export { averageInto, updateBatchNorm, type UpdateBatchNormOptions } from './average.js';
export { learningRate } from './schedule.js';
