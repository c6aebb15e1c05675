// The model and the picture a predict or explain request names, and its classification: checked before the job is
// queued (cheap), decoded and classified inside it.
import path from 'node:path';
import { badRequest } from './errors.js';
import type { ModelRegistry, ServedModel } from './models.js';
import { checkImage, imageToInput, chwToDataUrl } from './images.js';
import { fitDataset } from '../data/images.js';
import { probabilities } from './explainers.js';
import { intField, type RawRequest } from './requests.js';
import type { DataFile } from './context.js';
import type { ClassProbability, InputJson, PredictResponse } from './api-types.js';

export interface Input { chw: Float32Array; json: InputJson }

/** An upload, or a record of the --data file. */
export type Source = { upload: Buffer } | { record: number };

export function pickModel(raw: RawRequest, models: ModelRegistry): ServedModel {
  const id = raw.fields.get('model');
  const m = models.get(id === undefined || id.trim() === '' ? undefined : id.trim());
  if (m === undefined) throw badRequest(`unknown model '${String(id).slice(0, 60)}' (loaded: ${models.list.map((s) => s.id).join(', ')})`);
  return m;
}

/** Checks the image/record choice before queueing (cheap); the decoding runs in the job. */
export async function pickSource(raw: RawRequest, data: DataFile | null): Promise<Source> {
  const hasRecord = raw.fields.has('record');
  if (raw.image !== null && hasRecord) throw badRequest("send either an image (field 'image') or a CIFAR record (field 'record'), not both");
  if (raw.image !== null) {
    await checkImage(raw.image);
    return { upload: raw.image };
  }
  if (!hasRecord) throw badRequest("nothing to classify: upload an image in multipart field 'image', or give a CIFAR record number in field 'record'");
  if (data === null) throw badRequest("this server was started without a CIFAR file (--data), so 'record' cannot be used");
  return { record: intField(raw.fields, 'record', 0, 0, data.set.n - 1) };
}

/** The picture as the model's CHW input, and as the client is shown it. A record needs the data file. */
export async function loadInput(src: Source, m: ServedModel, data: DataFile | null): Promise<Input> {
  const { channels: c, height: h, width: w } = m.shape;
  if ('upload' in src) {
    const inp = await imageToInput(src.upload, m.shape, m.resize);
    return { chw: inp.chw, json: { source: 'upload', note: inp.note, image: chwToDataUrl(inp.chw, c, h, w) } };
  }
  if (data === null) throw new Error('a CIFAR record without a data file'); // pickSource refuses this
  const record = fitDataset(data.set.subset([src.record]), m.shape, m.resize);
  const chw = record.floats();
  const label = record.labels[0]!;
  const set = data.set;
  return {
    chw,
    json: { source: 'record', record: src.record, label, note: `record ${src.record} of ${path.basename(data.file)} (${set.height}×${set.width}, label ${set.className(label)})`, image: chwToDataUrl(chw, c, h, w) },
  };
}

export function classify(m: ServedModel, input: Input): Omit<PredictResponse, 'seconds'> {
  const p = probabilities(m.net, input.chw, m.shape);
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  const probs: ClassProbability[] = Array.from(p, (v, i) => ({ class: i, name: m.info.classNames[i] ?? `class ${i}`, p: v }));
  return { model: m.id, input: input.json, predicted: best, probabilities: probs };
}
