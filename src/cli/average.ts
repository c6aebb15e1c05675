// advexp average --model A --model B ... --data PATH [--split FILE] --out FILE: weight averaging (SWA) of networks
// of one architecture, with batch norm's statistics recomputed on the training images (train/average.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { parse, intArg, requireArg } from './args.js';
import { openModel, applyThreads, checkOutput, modelChoices, type ModelChoices } from './common.js';
import { UserError, asUserError } from './errors.js';
import { saveModel } from '../io/model-file.js';
import { loadDataset, type LoadOptions } from '../data/load.js';
import { trainingImages } from '../data/select.js';
import type { ImageDataset } from '../data/dataset.js';
import { loadCheckpoint, SPLIT_FILE } from '../train/checkpoint.js';
import { averageInto, updateBatchNorm } from '../train/average.js';
import { trainingRecord } from '../train/trainer.js';
import type { Module } from '../nn/index.js';
import { Progress } from '../report/progress.js';

const HELP = `usage: advexp average --model A --model B [--model C ...] --data PATH [--split FILE] --out FILE [options]
Weight averaging (SWA, Izmailov et al. 2018; torch.optim.swa_utils' AveragedModel and update_bn): the mean of
the networks' weights, then every batch norm's running mean and variance recomputed for those weights by one pass
over the training images in training mode (the cumulative average over batches, PyTorch's momentum=None). Made for
the endpoints of warm-restart cycles of one run (advexp train --resume with a new lr cycle), which lie in one basin.
Give them oldest first: the output keeps the last one's training record (less its validation accuracy) and the
first one's class names, and records every input's sha256 (metadata 'averaged_from'). advexp eval scores it.

  --model M          a model file (safetensors of a built-in architecture) or a training directory (its latest
                     checkpoint); repeat, 2 or more, all of one architecture (one: its batch-norm statistics only)
  --data PATH        the training data as given to advexp train (CIFAR-10 files, their directory or tarball, or
                     an image folder)
  --split FILE       the run's split.json: its held-out images are left out of the batch-norm pass (default: the
                     split.json of the first training directory given; without either, every image of --data)
  --bn-images N      images for the batch-norm pass, a seeded draw (default: all the training images)
  --augment yes|no   the training augmentation on each batch (default: as the last model was trained, else yes),
                     flips as it was trained (--flip)
  --batch B          images per batch (default 128, the training batch)
  --seed S           the draw and the augmentation (default 0)
  --out FILE         the averaged model (.safetensors), written atomically
  --threads T        libtorch threads (default: all cores)
  --quiet            no progress bar`;

/** One network to average: built, with what the output's metadata needs. */
interface Member {
  what: string;
  model: Module;
  arch: string;
  config: string;
  classNames: string[] | null;
  trainingOptions: Record<string, unknown> | null;
  input: { channels: number | null; size: [number, number] | null };
  /** The weights file read (a directory's checkpoint), hashed for the record. */
  weightsFile: string;
  split: string | null;
}

function openMember(p: string, choices: ModelChoices): Member {
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
    const ck = asUserError(() => loadCheckpoint(p));
    if (ck.architecture === null) throw new UserError(`${p}: a TorchScript model's run; averaging takes networks of a built-in architecture`);
    const { arch, config } = ck.architecture;
    const model = arch.build(config);
    asUserError(() => model.loadStateDict(ck.model));
    const o = ck.state.options;
    const splitFile = path.join(p, SPLIT_FILE);
    return {
      what: p, model: model.eval(), arch: arch.name, config: JSON.stringify(config), classNames: ck.state.classNames,
      trainingOptions: trainingRecord(ck.state, ck.state.classNames.length, ck.state.split.val, ck.state.history.at(-1)?.valAcc ?? null),
      input: { channels: arch.input(config).channels, size: o.imageSize === null ? null : [o.imageSize, o.imageSize] },
      weightsFile: path.join(p, ck.state.weights), split: fs.existsSync(splitFile) ? splitFile : null,
    };
  }
  const m = openModel(p, choices.overrides);
  if (m.arch === 'torchscript') {
    m.model.dispose();
    throw new UserError(`${p}: a TorchScript model; averaging takes networks of a built-in architecture (safetensors)`);
  }
  return {
    what: p, model: m.model, arch: m.arch, config: JSON.stringify(m.config), classNames: m.classNames, trainingOptions: m.trainingOptions,
    input: { channels: m.input.channels, size: m.input.size }, weightsFile: p, split: null,
  };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

export function run(argv: string[]): void {
  const { values } = parse(argv, {
    model: { type: 'string', multiple: true }, data: { type: 'string' }, split: { type: 'string' }, 'bn-images': { type: 'string' },
    augment: { type: 'string' }, batch: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' },
    quiet: { type: 'boolean' }, resize: { type: 'string' },
  });
  if (values.help) { console.log(HELP); return; }
  const files = values.model ?? [];
  if (files.length === 0) throw new UserError('--model is required (2 or more, or one to recompute its batch-norm statistics)');
  const dataPath = requireArg(values.data, 'data');
  const out = requireArg(values.out, 'out');
  if (!out.endsWith('.safetensors')) throw new UserError(`--out: the averaged model is written as safetensors; name it *.safetensors, got '${out}'`);
  checkOutput(out, 'out', 'file');
  const bnImages = values['bn-images'] === undefined ? undefined : intArg(values['bn-images'], 'bn-images', 0, 1);
  const batch = intArg(values.batch, 'batch', 128, 1);
  const seed = intArg(values.seed, 'seed', 0, 0);
  if (values.augment !== undefined && values.augment !== 'yes' && values.augment !== 'no') throw new UserError(`--augment: expected yes or no, got '${values.augment}'`);
  const choices = modelChoices(values);
  applyThreads(values.threads);

  const members: Member[] = [];
  try {
    for (const f of files) {
      const m = openMember(f, choices);
      members.push(m);
      const first = members[0]!;
      if (m.arch !== first.arch || m.config !== first.config) {
        throw new UserError(`${f}: ${m.arch} ${m.config}, but ${first.what} is ${first.arch} ${first.config}: averaging needs one architecture`);
      }
    }
    const first = members[0]!;
    const splitFile = values.split ?? members.find((m) => m.split !== null)?.split ?? undefined;
    const opts: LoadOptions = { size: first.input.size ?? undefined, channels: first.input.channels ?? undefined, resize: choices.resize };
    const data: ImageDataset = asUserError(() => (splitFile !== undefined ? trainingImages(splitFile, dataPath, opts).set : loadDataset(dataPath, opts)));
    // The newest member's training record (members go oldest first), less its validation accuracy: that was measured
    // on other weights (advexp eval scores these).
    const newest = members[members.length - 1]!.trainingOptions;
    const trained = newest === null ? null : Object.fromEntries(Object.entries(newest).filter(([k]) => k !== 'val_acc'));
    const augment = values.augment !== undefined ? values.augment === 'yes' : trained?.augment !== false;
    const flip = trained?.flip !== false;

    averageInto(first.model, members.map((m) => m.model.stateDict()));
    const count = Math.min(bnImages ?? data.n, data.n);
    const bar = new Progress({ label: 'batch norm', total: count, unit: 'img', quiet: values.quiet === true });
    let last = 0;
    const layers = updateBatchNorm(first.model, data, { batch, images: count, augment, flip, seed, onBatch: (d) => { bar.tick(d - last); last = d; } });
    bar.finish();

    const record = {
      models: members.map((m) => ({ path: m.what, weights: path.basename(m.weightsFile), sha256: sha256(m.weightsFile) })),
      batch_norm: layers === 0 ? null : { layers, images: count, data: dataPath, split: splitFile ?? null, augment, flip, batch, seed },
    };
    const names = first.classNames;
    saveModel(out, first.model, {
      ...(trained !== null ? { training_options: JSON.stringify(trained) } : {}),
      ...(names !== null ? { class_names: JSON.stringify(names) } : {}),
      input_size: JSON.stringify(first.input.size ?? [data.height, data.width]),
      averaged_from: JSON.stringify(record),
    });
    const bn = layers === 0 ? 'no batch norm to recompute'
      : `batch-norm statistics of ${layers} layers from ${count} image(s) of ${dataPath}${splitFile !== undefined ? ` less the held-out ones of ${splitFile}` : ''}${augment ? ', augmented' : ''}`;
    console.log(`${out}: the average of ${members.length} model(s); ${bn}`);
  } finally {
    for (const m of members) m.model.dispose();
  }
}
