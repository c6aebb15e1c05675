// Temporary model states for a piece of work, restored however it ends: the one home of the eval-mode and
// frozen-parameter save/restore that metrics, explanations, attacks and the trainer need.
import type { Module } from './module.js';
import { BatchNorm2d } from './layers.js';

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

/** The batch-norm layers of a network, in registration order. */
export function batchNormLayers(model: Module): BatchNorm2d[] {
  const out: BatchNorm2d[] = [];
  const walk = (m: Module): void => {
    if (m instanceof BatchNorm2d) out.push(m);
    for (const [, c] of m.children()) walk(c);
  };
  walk(model);
  return out;
}

/**
 * Runs fn with every batch norm's running statistics left untouched: in training mode the layers still normalise
 * with the batch's statistics but do not update the running ones (a second forward pass of the same step, as the
 * finite-difference penalty makes). Without an in-place write, graphs of earlier passes stay valid.
 */
export function statisticsFrozen<T>(model: Module, fn: () => T): T {
  const layers = batchNormLayers(model).filter((l) => !l.frozenStatistics);
  for (const l of layers) l.frozenStatistics = true;
  try {
    return fn();
  } finally {
    for (const l of layers) l.frozenStatistics = false;
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
