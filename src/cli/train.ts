// advexp train: the paper's training (METHOD.md §3) with checkpoints, exact resume and a JSONL log.
import * as path from 'node:path';
import { parse, intArg, numArg } from './args.js';
import { applyThreads, checkOutput, firstMissingDir, removeCreatedDirs } from './common.js';
import { UserError } from './errors.js';
import { Progress } from '../report/progress.js';
import { runTraining, TrainInputError, MODEL_FILE, LOG_FILE } from '../train/trainer.js';
import { defaultTrainOptions, checkOptions, robustAdditions, TRAIN_MODES, BALANCES, PENALTIES, type Balance, type Penalty, type TrainMode, type TrainOptions } from '../train/options.js';
import { architectures, architectureNames, type Activation } from '../nn/index.js';
import { DataParallel } from '../train/distributed.js';
import { DIST_FLAGS, DIST_HELP, launchOrJoin } from './launch.js';

/** What --balance alone does (measured on PneumoniaMNIST: models/xray/README.md). */
const DEFAULT_BALANCE: Balance = 'sample';

const HELP = `usage: advexp train --data PATH --out DIR [options]
       advexp train --resume DIR [--epochs N] [--milestones A,B] [--loss-target L] [--threads T] [--data PATH]

Trains a network (default: the paper's pre-activation ResNet) the paper's way (defaults: METHOD.md §3). Every epoch writes a checkpoint
(DIR/state.json + DIR/ckpt-*.safetensors), the model (DIR/${MODEL_FILE}, or DIR/model.pt for a TorchScript --init) and a line of DIR/${LOG_FILE}.
Ctrl-C / SIGTERM: the current batch finishes, a checkpoint is written, and --resume continues bit-identically.

data:
  --data PATH           CIFAR-10 batch file(s) (comma-separated), a directory of data_batch_*.bin,
                        cifar-10-binary.tar.gz, or an image folder (one sub-folder per class, PNG/JPEG/WebP/AVIF/TIFF/GIF)
  --val N               images held out for validation, drawn with --seed (default 5000, or a tenth of the
                        data when that is fewer)
  --val-data PATH       validate on this data (e.g. an image folder's val/) instead of a split; split.json
                        records it, so eval --split scores it
  --limit N             use only the first N images of the data (before the split)
  --size N              bring images to N×N (default: the data's own size; image folders must then share one)
  --resize POLICY       crop (default: centre region, then resize) or stretch (resize the whole picture)
  --no-augment          no pad-4 replicate / random crop / flip augmentation
  --no-flip             augmentation without horizontal flips (data whose left and right differ: chest X-rays)
training:
  --mode M              standard | lipschitz | adversarial | all (default lipschitz: the robust additions)
  --l2-min              adversarial modes: the L2,min variant (ε 0.1, smallest misclassifying iterate)
  --adv-eps E           adversarial modes: attack ε (RMS; default 0.01, with --l2-min 0.1)
  --adv-steps T         adversarial modes: attack steps (default 7)
  --penalty P           lipschitz modes: double-backprop (default; the paper's ψ·mean(G²), exact) or
                        finite-difference (Finlay & Oberman 2019: ‖G_b‖ ≈ (s_b(x + h·G_b/‖G_b‖) − s_b(x))/h,
                        no second-order graph)
  --fd-step H           finite-difference step h in pixel units (default 0.01)
  --noise-std S         add Gaussian noise N(0, S²) to training inputs (default 0: off)
  --balance             counter class imbalance: --balance-by ${DEFAULT_BALANCE} (measured best on chest X-rays)
  --balance-by HOW      weight (cross-entropy weighted n/(K·n_k)) or sample (each epoch draws classes equally,
                        with replacement); implies --balance
  --loss-target L       robust modes: the training cross-entropy the adaptive ψ steers to (default 1.5·ln K/ln 10:
                        the paper's 1.5 for 10 classes, 0.45 for 2)
  --epochs N            (default 200)   --lr R (0.1)   --batch B (128)   --milestones A,B (170,195; 'none')
  --weight-decay W      (1e-4)          --momentum M (0.9)             --seed S (0)
model:
  --init FILE           start from this model (fine-tuning): safetensors of a built-in architecture, or a scripted
                        TorchScript module (written back as DIR/model.pt + model.json); --arch/--depth/--widths ignored
  --arch NAME           ${architectureNames().join(' | ')} (default preact-resnet)
${architectures().map((a) => `                        ${[a.name, ...Object.keys(a.aliases ?? {})].join(', ')}: ${a.summary}`).join('\n')}
  --depth D             preact-resnet: 6n+2 (default 44)   --widths A,B,C (16,32,64)
  --activation A        relu | half-huber (default: half-huber with robust additions, else relu)
run:
  --out DIR             the run directory (must not hold a run already); locked while a run uses it (DIR/run.lock)
  --resume DIR          continue the run in DIR with its stored options; --epochs extends or shortens it,
                        --milestones changes the lr schedule from then on, --loss-target ψ's target
  --threads T           libtorch threads (default: all cores)
  --log-every N         a JSONL step line every N steps (default 50; 0: epochs only)
  --checkpoint-minutes M  also checkpoint mid-epoch every M minutes (default 10; 0: only at epoch ends)
  --quiet               no progress bar or epoch lines

${DIST_HELP}
  Training is data-parallel (PyTorch DDP's semantics): every global batch of --batch images is split among the
  ranks, gradients are averaged, ψ follows the global L_cls; rank 0 writes the run folder; --resume continues bit
  for bit with the same number of ranks (and resumes, not bit-identically, with another).
  --sync-bn             batch norm with the statistics of the whole global batch (torch.nn.SyncBatchNorm); default:
                        per rank, as the reference's DataParallel`;

const RESUMABLE = new Set(['resume', 'epochs', 'milestones', 'loss-target', 'threads', 'data', 'quiet', 'log-every', 'checkpoint-minutes', ...Object.keys(DIST_FLAGS)]);

function intList(v: string | undefined, name: string): number[] | undefined {
  if (v === undefined) return undefined;
  if (v === 'none' || v === '') return [];
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (!parts.every((n) => Number.isInteger(n))) throw new UserError(`--${name}: expected comma-separated integers, got '${v}'`);
  return parts;
}

const flag = (v: unknown): boolean => v === true;

function fmtNum(v: number): string {
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

export async function run(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    data: { type: 'string' }, out: { type: 'string' }, resume: { type: 'string' },
    mode: { type: 'string' }, 'l2-min': { type: 'boolean' }, 'noise-std': { type: 'string' },
    activation: { type: 'string' }, arch: { type: 'string' }, init: { type: 'string' }, resize: { type: 'string' }, depth: { type: 'string' }, widths: { type: 'string' },
    epochs: { type: 'string' }, lr: { type: 'string' }, batch: { type: 'string' }, milestones: { type: 'string' },
    'weight-decay': { type: 'string' }, momentum: { type: 'string' }, threads: { type: 'string' }, seed: { type: 'string' },
    val: { type: 'string' }, limit: { type: 'string' }, size: { type: 'string' }, 'no-augment': { type: 'boolean' },
    'val-data': { type: 'string' }, 'no-flip': { type: 'boolean' }, balance: { type: 'boolean' }, 'balance-by': { type: 'string' }, 'loss-target': { type: 'string' },
    'adv-eps': { type: 'string' }, 'adv-steps': { type: 'string' }, penalty: { type: 'string' }, 'fd-step': { type: 'string' }, 'log-every': { type: 'string' }, 'checkpoint-minutes': { type: 'string' }, quiet: { type: 'boolean' },
    ...DIST_FLAGS, 'sync-bn': { type: 'boolean' },
  });
  if (values.help) { console.log(HELP); return; }

  const resumeDir = values.resume;
  const lossTarget = values['loss-target'] === undefined ? undefined : numArg(values['loss-target'], 'loss-target', 0);
  const given = Object.keys(values).filter((k) => values[k] !== undefined && k !== 'help');
  let dir: string;
  let options: TrainOptions | undefined;
  if (resumeDir !== undefined) {
    if (resumeDir === '') throw new UserError('--resume: expected a run directory');
    const fixed = given.filter((k) => !RESUMABLE.has(k));
    if (fixed.length > 0) {
      throw new UserError(`--${fixed[0]} cannot be changed when resuming (the run's options are in ${path.join(resumeDir, 'state.json')}); allowed: --epochs, --milestones, --loss-target, --threads, --data, --log-every, --checkpoint-minutes, --quiet`);
    }
    dir = resumeDir;
  } else {
    if (values.data === undefined || values.data === '') throw new UserError('--data is required (or --resume DIR)');
    if (values.out === undefined || values.out === '') throw new UserError('--out is required: the run directory');
    dir = values.out;
    const mode = values.mode ?? 'lipschitz';
    if (!TRAIN_MODES.includes(mode as TrainMode)) throw new UserError(`--mode: expected one of ${TRAIN_MODES.join('|')}, got '${mode}'`);
    const activation = values.activation;
    if (activation !== undefined && activation !== 'relu' && activation !== 'half-huber') {
      throw new UserError(`--activation: expected relu|half-huber, got '${activation}'`);
    }
    const widths = intList(values.widths, 'widths');
    if (widths !== undefined && (widths.length === 0 || widths.some((w) => w < 1))) {
      throw new UserError(`--widths: expected positive integers (three like 16,32,64 for preact-resnet, one for the others), got '${values.widths}'`);
    }
    const partial: Partial<TrainOptions> & { data: string } = {
      data: values.data,
      mode: mode as TrainMode,
      l2Min: flag(values['l2-min']),
      noiseStd: numArg(values['noise-std'], 'noise-std', 0),
      depth: intArg(values.depth, 'depth', 44, 8),
      epochs: intArg(values.epochs, 'epochs', 200, 1),
      lr: numArg(values.lr, 'lr', 0.1),
      batch: intArg(values.batch, 'batch', 128, 2),
      weightDecay: numArg(values['weight-decay'], 'weight-decay', 1e-4),
      momentum: numArg(values.momentum, 'momentum', 0.9),
      seed: intArg(values.seed, 'seed', 0, 0),
      val: values.val === undefined ? null : intArg(values.val, 'val', 0, 0),
      valData: values['val-data'] ?? null,
      flip: !flag(values['no-flip']),
      lossTarget: lossTarget ?? null,
      limit: values.limit === undefined ? null : intArg(values.limit, 'limit', 0, 1),
      imageSize: values.size === undefined ? null : intArg(values.size, 'size', 32, 1),
      arch: values.arch ?? 'preact-resnet',
      init: values.init ?? null,
      augment: !flag(values['no-augment']),
      advEps: values['adv-eps'] === undefined ? null : numArg(values['adv-eps'], 'adv-eps', 0),
      advSteps: intArg(values['adv-steps'], 'adv-steps', 7, 1),
      fdStep: numArg(values['fd-step'], 'fd-step', 0.01),
    };
    if (values.penalty !== undefined) {
      if (!PENALTIES.includes(values.penalty as Penalty)) throw new UserError(`--penalty: expected ${PENALTIES.join('|')}, got '${values.penalty}'`);
      if (!robustAdditions(mode as TrainMode)) throw new UserError(`--penalty: needs --mode lipschitz or all (got ${mode})`);
      partial.penalty = values.penalty as Penalty;
    }
    if (lossTarget !== undefined && !robustAdditions(mode as TrainMode)) throw new UserError(`--loss-target: needs --mode lipschitz or all (got ${mode})`);
    if (activation !== undefined) partial.activation = activation as Activation;
    const balanceBy = values['balance-by'];
    if (balanceBy !== undefined && !BALANCES.includes(balanceBy as Balance)) throw new UserError(`--balance-by: expected one of ${BALANCES.join('|')}, got '${balanceBy}'`);
    if (values['val-data'] !== undefined && values.val !== undefined) throw new UserError('--val and --val-data cannot be combined (--val-data replaces the split)');
    partial.balance = (balanceBy as Balance | undefined) ?? (flag(values.balance) ? DEFAULT_BALANCE : 'none');
    if (widths !== undefined) partial.widths = widths as [number, number, number];
    if (values.resize !== undefined) partial.resize = values.resize as TrainOptions['resize'];
    const milestones = intList(values.milestones, 'milestones');
    if (milestones !== undefined) partial.milestones = milestones;
    options = defaultTrainOptions(partial);
    const problem = checkOptions(options);
    if (problem !== null) throw new UserError(`--${problem}`);
  }
  const role = await launchOrJoin('train', argv, values);
  if (role.kind === 'launched') {
    process.exitCode = role.exitCode;
    return;
  }
  const pg = role.kind === 'rank' ? role.pg : null;
  const root = pg === null || pg.isRoot;
  if (pg === null && flag(values['sync-bn'])) throw new UserError('--sync-bn: needs several ranks (--nproc N, --nnodes M or a launcher)');
  // Only rank 0 touches the run folder (on other machines it need not exist).
  if (options !== undefined && root) checkOutput(dir, 'out', 'dir');
  const epochsOverride = resumeDir !== undefined && values.epochs !== undefined ? intArg(values.epochs, 'epochs', 1, 1) : undefined;
  const logEvery = intArg(values['log-every'], 'log-every', 50, 0);
  const checkpointMinutes = numArg(values['checkpoint-minutes'], 'checkpoint-minutes', 10);
  if (checkpointMinutes < 0) throw new UserError(`--checkpoint-minutes: expected a number ≥ 0, got '${values['checkpoint-minutes']}'`);
  const threads = applyThreads(values.threads ?? (role.kind === 'rank' ? String(role.perRankThreads) : undefined));
  const quiet = flag(values.quiet) || !root;

  // SIGINT/SIGTERM: finish the batch, write a checkpoint, exit. A second signal exits at once.
  let signal: NodeJS.Signals | null = null;
  const onSignal = (s: NodeJS.Signals): void => {
    if (signal !== null) process.exit(s === 'SIGINT' ? 130 : 143);
    signal = s;
    process.stderr.write(`\n${s}: finishing the current batch and writing a checkpoint (again to quit now)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // A fresh run's folder, when this run creates it, is removed again if the run fails before writing into it.
  const createdTop = resumeDir === undefined && root ? firstMissingDir(dir) : null;
  let bar: Progress | null = null;
  let barEpoch = -1;
  let totalEpochs = 0;
  const err = (s: string): void => { if (!quiet) process.stderr.write(s + '\n'); };
  try {
    const result = await runTraining({
      dir, options, resume: resumeDir !== undefined, threads, logEvery, checkpointSeconds: checkpointMinutes * 60,
      overrides: resumeDir !== undefined
        ? {
          epochs: epochsOverride, data: values.data, milestones: intList(values.milestones, 'milestones'),
          lossTarget,
        }
        : undefined,
      shouldStop: () => signal !== null,
      distributed: pg === null ? undefined : new DataParallel(pg, { syncBatchNorm: flag(values['sync-bn']) }),
      onNote: (m) => { process.stderr.write(`advexp: note: ${m}\n`); },
      onStart: ({ state, nTrain, nVal, batches, parameters, resumed }) => {
        const o = state.options;
        totalEpochs = o.epochs;
        err(`${resumed ? `resuming ${dir} at epoch ${state.epoch + 1}${state.batchInEpoch ? ` batch ${state.batchInEpoch + 1}` : ''} (step ${state.step})` : `training into ${dir}`}: ` +
          `mode ${o.mode}${o.l2Min ? ' (L2,min)' : ''}${o.noiseStd > 0 ? ` + noise σ ${o.noiseStd}` : ''}, ${o.arch === 'preact-resnet' ? `PreActResNet-${o.depth} ${o.widths.join('/')} ${o.activation}` : o.arch} ` +
          `(${parameters.toLocaleString('en-US')} parameters), ${nTrain} training / ${nVal} validation images, batch ${o.batch} (${batches} a epoch), ` +
          `${o.balance !== 'none' ? `balance by ${o.balance}, ` : ''}${o.epochs} epochs, lr ${o.lr} ÷${Math.round(1 / o.gamma)} at ${o.milestones.join(',') || 'never'}, ` +
          `${pg !== null ? `${pg.world} ranks × ` : ''}${threads} thread${threads > 1 ? 's' : ''}${pg !== null ? ' each' : ''}`);
      },
      onBatch: (b) => {
        if (quiet) return;
        if (bar === null || barEpoch !== b.epoch) {
          bar?.finish();
          barEpoch = b.epoch;
          bar = new Progress({ label: `epoch ${b.epoch + 1}/${totalEpochs}`, total: b.epochImages - b.batch * b.batchSize, unit: 'img' });
        }
        bar.tick(b.images, `loss ${fmtNum(b.loss)}${b.psi !== null ? ` ψ ${fmtNum(b.psi)}` : ''}`);
      },
      onEpoch: (r) => {
        bar?.finish();
        bar = null;
        err(`epoch ${r.epoch}/${totalEpochs}: loss ${fmtNum(r.trainLoss)} train acc ${r.trainAcc.toFixed(4)}` +
          `${r.valAcc !== null ? ` val acc ${r.valAcc.toFixed(4)} val loss ${fmtNum(r.valLoss!)}` : ''}${r.psi !== null ? ` ψ ${fmtNum(r.psi)}` : ''}` +
          ` lr ${r.lr} ${r.imgPerSec.toFixed(1)} img/s ${r.seconds.toFixed(0)} s`);
      },
    });
    (bar as Progress | null)?.finish();
    if (result.stopped) {
      const s = result.state;
      err(`stopped at epoch ${s.epoch + (s.batchInEpoch ? 1 : 0)}${s.batchInEpoch ? ` batch ${s.batchInEpoch}` : ''} (step ${s.step}); checkpoint in ${dir}; continue with: advexp train --resume ${dir}`);
      process.exitCode = signal === 'SIGTERM' ? 143 : 130;
    } else {
      const last = result.state.history[result.state.history.length - 1];
      if (root) console.log(`${result.modelFile}: ${result.state.epoch} epochs${last?.valAcc != null ? `, validation accuracy ${last.valAcc.toFixed(4)}` : ''}`);
    }
  } catch (e) {
    if (root) removeCreatedDirs(dir, createdTop);
    pg?.reportFailure(`${(e as Error).message}`);
    if (e instanceof TrainInputError) throw new UserError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    pg?.destroy();
  }
}
