// Temporary model states for a piece of work, restored however it ends: the one home of the eval-mode and
// frozen-parameter save/restore that metrics, explanations, attacks and the trainer need.
import type { Module } from './module.js';

/** Runs fn with the model in eval mode (batch norm on running statistics) and restores its mode after. */
export function inEval<T>(model: Module, fn: () => T): T {
  const was = model.training;
  model.eval();
  try {
    return fn();
  } finally {
    model.train(was);
  }
}

/**
 * Runs fn with every parameter's requiresGrad off (input gradients only: attacks, explanations) and restores each
 * parameter's own flag after; parameters disposed meanwhile are left alone.
 */
export function frozen<T>(model: Module, fn: () => T): T {
  const params = model.parameters();
  const was = params.map((p) => p.requiresGrad);
  for (const p of params) if (p.requiresGrad) p.requiresGrad_(false);
  try {
    return fn();
  } finally {
    params.forEach((p, i) => { if (was[i] && !p.isDisposed) p.requiresGrad_(true); });
  }
}
