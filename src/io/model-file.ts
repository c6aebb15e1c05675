// Model files: safetensors weights whose metadata says how to rebuild the network.
// advexp writes `__metadata__.advexp_model` (JSON of the PreActResNet config); the paper's published
// nets carry `training_options` instead, and their architecture is read off the tensor names.
import path from 'node:path';
import { PreActResNet, type PreActResNetConfig, type Activation } from '../nn/index.js';
import { readSafetensors, writeSafetensors, type StFile, type StTensor } from './safetensors.js';

export interface LoadedModel {
  model: PreActResNet;
  /** Where the model came from, and its metadata as stored. */
  file: string;
  metadata: Record<string, string>;
  /** Parsed training options of a reference net, or advexp's own training record, if present. */
  trainingOptions: Record<string, unknown> | null;
}

const MODEL_KEY = 'advexp_model';

function parseJson(file: string, key: string, text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* fall through */ }
  throw new Error(`${file}: metadata '${key}' is not a JSON object`);
}

function shapeOf(st: StFile, file: string, name: string): number[] {
  const t = st.tensors.get(name);
  if (t === undefined) throw new Error(`${file}: not a pre-activation ResNet (no tensor '${name}')`);
  return t.shape;
}

/** Reads the architecture of a reference-style file from its tensor names and shapes. */
export function inferConfig(st: StFile, file: string, trainingOptions: Record<string, unknown> | null): PreActResNetConfig {
  const stem = shapeOf(st, file, 'pipe.0.weight');
  const head = shapeOf(st, file, 'pipe.7.weight');
  let blocks = 0;
  while (st.tensors.has(`pipe.1.${blocks}.main.0.weight`)) blocks++;
  if (blocks === 0) throw new Error(`${file}: not a pre-activation ResNet (no tensor 'pipe.1.0.main.0.weight')`);
  const widths = [1, 2, 3].map((s) => shapeOf(st, file, `pipe.${s}.0.main.0.weight`)[0]!) as [number, number, number];
  const hasD = [...st.tensors.keys()].some((k) => k.endsWith('.d'));
  const robust = trainingOptions?.robust_additions;
  const activation: Activation = (typeof robust === 'boolean' ? robust : hasD) ? 'half-huber' : 'relu';
  const off = st.tensors.get('input_offset');
  if (off === undefined || off.shape.length !== 2 || off.shape[0] !== 2) throw new Error(`${file}: tensor 'input_offset' must have shape [2, C]`);
  const v = Array.from(off.data as Float32Array, Number);
  const c = off.shape[1]!;
  return {
    depth: 6 * blocks + 2, widths, classes: head[0]!, activation, inputChannels: stem[1]!,
    inputOffset: [v.slice(0, c), v.slice(c, 2 * c)],
  };
}

function configFromMetadata(file: string, meta: Record<string, string>): PreActResNetConfig | null {
  const text = meta[MODEL_KEY];
  if (text === undefined) return null;
  const c = parseJson(file, MODEL_KEY, text) as unknown as PreActResNetConfig;
  if (typeof c.depth !== 'number' || !Array.isArray(c.widths) || typeof c.classes !== 'number') {
    throw new Error(`${file}: metadata '${MODEL_KEY}' lacks depth/widths/classes`);
  }
  return c;
}

/** Rebuilds the network a model file describes and loads its weights (strict names and shapes). */
export function loadModel(file: string): LoadedModel {
  const st = readSafetensors(file);
  const meta = st.metadata;
  const trainingOptions = meta.training_options !== undefined ? parseJson(file, 'training_options', meta.training_options) : null;
  const config = configFromMetadata(file, meta) ?? inferConfig(st, file, trainingOptions);
  const model = new PreActResNet(config);
  try {
    model.loadStateDict(st.tensors as Map<string, StTensor>);
  } catch (e) {
    model.dispose();
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  return { model: model.eval(), file: path.resolve(file), metadata: meta, trainingOptions };
}

/** Writes weights and config atomically (temp file + rename). */
export function saveModel(file: string, model: PreActResNet, extraMetadata: Record<string, string> = {}): void {
  const tensors = new Map<string, StTensor>();
  for (const [name, t] of model.stateDict()) {
    tensors.set(name, { dtype: 'F32', shape: [...t.shape], data: t.data<Float32Array>() });
  }
  writeSafetensors(file, tensors, { ...extraMetadata, [MODEL_KEY]: JSON.stringify(model.config) });
}
