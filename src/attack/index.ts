// Attacks: the two Foolbox-like families (fixed ε, minimisation), criteria and norms as objects, the paper's
// routine (METHOD.md §4) as a budget and a minimal attack, PGD and FGSM; AutoAttack (APGD, FAB-T, Square) and the
// minimal-norm L2 attacks DDN and FMN.
export {
  Attack, FixedEpsilonAttack, MinimizationAttack,
  type AttackInput, type AttackContext, type BatchOutcome, type BatchOptions, type BatchAttackResult,
  type RunOptions, type AttackResult, type FixedEpsilonResult, type MinimizationResult,
} from './base.js';
export { Criterion, Misclassification, TargetedMisclassification, TrueClassProbabilityAtMost } from './criteria.js';
export { RMS, L2, LINF, NORMS, type Norm, type NormName } from './norms.js';
export {
  PaperBudgetAttack, PaperMinimalAttack, AttackGuardError, rampStepSize, type PaperOptions, type PaperMinimalOptions,
} from './paper.js';
export { PGD, FGSM, type PgdOptions } from './pgd.js';
export { APGD, apgdCheckpoints, type ApgdOptions, type ApgdLoss } from './apgd.js';
export { Square, squareP, squareAccept, squareEta, type SquareOptions } from './square.js';
export { FAB, boxProjection, type FabOptions } from './fab.js';
export { DDN, cosineAnneal, type DdnOptions } from './ddn.js';
export { FMN, type FmnOptions } from './fmn.js';
export { AutoAttack, AUTOATTACK_STANDARD, type AutoAttackOptions, type AutoAttackPart } from './autoattack.js';
export { margin, dlrLoss, dlrTargetedLoss, restrictCriterion } from './losses.js';
