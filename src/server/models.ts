// The models a server holds: loaded once at start, addressed by opaque ids (never by a path from the client).
import path from 'node:path';
import { classCount, classNamesOf, type LoadedModel } from '../io/model-file.js';
import type { Module } from '../nn/index.js';
import type { ResizePolicy } from '../data/images.js';
import type { ModelInfo } from './api-types.js';
import type { ImageShape } from '../data/dataset.js';

export interface ServedModel {
  id: string;
  info: ModelInfo;
  net: Module;
  /** What every picture is brought to, and how. */
  shape: ImageShape;
  resize: ResizePolicy;
  loaded: LoadedModel;
}


/** The shape a served model takes: its own; where it leaves it open, 3 channels and the data's size. */
function servedShape(m: LoadedModel, data: ImageShape | null): ImageShape {
  const size = m.input.size ?? (data === null ? null : [data.height, data.width]);
  if (size === null) throw new Error(`${m.file}: the model does not state its input size and there is no --data to take it from: give --size`);
  return { channels: m.input.channels ?? 3, height: size[0], width: size[1] };
}


/** A one-line summary of how the net was trained, from its metadata. */
export function describe(m: LoadedModel): string | null {
  const o = m.trainingOptions ?? {};
  const parts: string[] = [];
  if (o.robust_additions === true) parts.push('Lipschitz-regularised (robust additions)');
  if (o.adversarial_training === true) parts.push('adversarially trained');
  if (parts.length === 0 && (o.robust_additions === false || o.adversarial_training === false)) parts.push('standard training');
  if (typeof o.val_acc === 'number') parts.push(`validation accuracy ${(o.val_acc * 100).toFixed(1)}%`);
  const averaged = averagedCount(m.metadata.averaged_from);
  if (averaged !== null) parts.push(`weight average of ${averaged} checkpoints`);
  return parts.length > 0 ? parts.join(', ') : null;
}

/** How many networks `advexp average` averaged into this file (its `averaged_from` record), or null. */
function averagedCount(record: string | undefined): number | null {
  if (record === undefined) return null;
  try {
    const r = JSON.parse(record) as { models?: unknown };
    return Array.isArray(r.models) ? r.models.length : null;
  } catch {
    return null; // a nicety: a malformed record is left out of the summary
  }
}

function slug(file: string): string {
  const s = path.basename(file).replace(/\.safetensors$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s === '' ? 'model' : s.slice(0, 48);
}

export class ModelRegistry {
  readonly list: ServedModel[] = [];
  readonly byId = new Map<string, ServedModel>();

  /** `models` in page order; the one flagged default (else the first) is selected at start. */
  constructor(models: readonly { model: LoadedModel; default?: boolean }[], data: { classNames: readonly string[]; shape: ImageShape } | null, resize: ResizePolicy = 'crop') {
    if (models.length === 0) throw new Error('no models to serve');
    for (const { model: m, default: isDefault } of models) {
      const shape = servedShape(m, data?.shape ?? null);
      const classes = classCount(m, shape);
      let id = slug(m.file);
      for (let i = 2; this.byId.has(id); i++) id = `${slug(m.file)}-${i}`;
      const info: ModelInfo = {
        id, name: path.basename(m.file), default: isDefault === true, classes, classNames: classNamesOf(m, classes, data?.classNames ?? null),
        architecture: m.description, input: [shape.channels, shape.height, shape.width], description: describe(m),
      };
      const s: ServedModel = { id, info, net: m.model, shape, resize, loaded: m };
      this.list.push(s);
      this.byId.set(id, s);
    }
    if (!this.list.some((s) => s.info.default)) this.list[0]!.info.default = true;
  }

  get defaultModel(): ServedModel { return this.list.find((s) => s.info.default)!; }

  get(id: string | undefined): ServedModel | undefined {
    return id === undefined ? this.defaultModel : this.byId.get(id);
  }

  dispose(): void {
    for (const s of this.list) s.net.dispose();
  }
}
