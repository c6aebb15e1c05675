// Attacks: the Foolbox-like base, the paper's routine (METHOD.md §4), PGD and FGSM.
export {
  Attack, misclassification, targeted, btr, criterionClasses, perSampleNorm, isAdversarial, disposeState,
  type Criterion, type Norm, type AttackInput, type AttackContext, type BatchOutcome, type BatchAttackResult,
  type RunOptions, type AttackResult,
} from './base.js';
export { PaperAttack, paperRoutine, AttackGuardError, type PaperAttackOptions, type PaperMode, type PaperRoutineOptions } from './paper.js';
export { PGD, FGSM, type PgdOptions } from './pgd.js';
