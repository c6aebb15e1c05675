// Step learning-rate schedule (torch.optim.lr_scheduler.MultiStepLR stepped once per epoch): the rate of
// epoch e (0-based) is lr · gamma^(number of milestones ≤ e). The paper: 0.1, ÷10 at 170 and 195 of 200.
export function learningRate(epoch: number, base: number, milestones: readonly number[], gamma = 0.1): number {
  let lr = base;
  for (const m of milestones) if (epoch >= m) lr *= gamma;
  return lr;
}
