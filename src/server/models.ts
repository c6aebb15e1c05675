// The models a server holds: loaded once at start, addressed by opaque ids (never by a path from the client).
import path from 'node:path';
import type { LoadedModel } from '../io/model-file.js';
import type { PreActResNet } from '../nn/index.js';
import { CIFAR10_CLASSES } from '../data/cifar.js';
import type { ModelInfo } from './api-types.js';
import type { ImageShape } from '../data/dataset.js';

export interface ServedModel {
  id: string;
  info: ModelInfo;
  net: PreActResNet;
  shape: ImageShape;
  loaded: LoadedModel;
}

/** The model's class names: its own `class_names` metadata, else the data file's or CIFAR-10's when 10, else "class i". */
export function classNamesOf(m: LoadedModel, fallback: readonly string[] | null): string[] {
  const k = m.model.config.classes;
  const own = m.metadata.class_names;
  if (own !== undefined) {
    try {
      const v: unknown = JSON.parse(own);
      if (Array.isArray(v) && v.length === k && v.every((s) => typeof s === 'string')) return v as string[];
    } catch { /* fall through */ }
  }
  if (fallback !== null && fallback.length === k) return [...fallback];
  if (k === CIFAR10_CLASSES.length) return [...CIFAR10_CLASSES];
  return Array.from({ length: k }, (_, i) => `class ${i}`);
}

/** A one-line summary of how the net was trained, from its metadata. */
export function describe(m: LoadedModel): string | null {
  const o = m.trainingOptions;
  if (o === null) return null;
  const parts: string[] = [];
  if (o.robust_additions === true) parts.push('Lipschitz-regularised (robust additions)');
  if (o.adversarial_training === true) parts.push('adversarially trained');
  if (parts.length === 0 && (o.robust_additions === false || o.adversarial_training === false)) parts.push('standard training');
  if (typeof o.val_acc === 'number') parts.push(`validation accuracy ${(o.val_acc * 100).toFixed(1)}%`);
  return parts.length > 0 ? parts.join(', ') : null;
}

function slug(file: string): string {
  const s = path.basename(file).replace(/\.safetensors$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s === '' ? 'model' : s.slice(0, 48);
}

export class ModelRegistry {
  readonly list: ServedModel[] = [];
  readonly byId = new Map<string, ServedModel>();

  /** `models` in page order; the one flagged default (else the first) is selected at start. */
  constructor(models: readonly { model: LoadedModel; default?: boolean }[], dataClassNames: readonly string[] | null) {
    if (models.length === 0) throw new Error('no models to serve');
    for (const { model: m, default: isDefault } of models) {
      const c = m.model.config;
      if (c.inputChannels !== 3) throw new Error(`${m.file}: the explorer takes RGB images, but this model has ${c.inputChannels} input channel(s)`);
      let id = slug(m.file);
      for (let i = 2; this.byId.has(id); i++) id = `${slug(m.file)}-${i}`;
      const shape: ImageShape = { channels: 3, height: 32, width: 32 };
      const info: ModelInfo = {
        id, name: path.basename(m.file), default: isDefault === true, classes: c.classes, classNames: classNamesOf(m, dataClassNames),
        depth: c.depth, widths: [...c.widths], activation: c.activation, input: [shape.channels, shape.height, shape.width], description: describe(m),
      };
      const s: ServedModel = { id, info, net: m.model, shape, loaded: m };
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
