// The WideResNet layout most RobustBench CIFAR-10 entries use (robustbench/model_zoo/architectures/wide_resnet.py,
// after TRADES): a 3×3 conv to 16 channels, three groups of pre-activation blocks (16·widen, 32·widen, 64·widen
// channels; stride 1, 2, 2), then bn1, relu, global average pool, fc. State-dict names are RobustBench's:
// conv1, block1.layer.0.{bn1, conv1, bn2, conv2, convShortcut}, …, bn1, fc.
// Two details of that code this keeps: a block whose channel count changes applies its shortcut to the
// *activated* input (relu(bn1(x))), while an equal-channel block adds the raw input; and RobustBench pools with a
// fixed 8×8 window (global at 32×32, its only input size): here the pool is global at any size, the same at 32×32.
// RobustBench's models take images in [0, 1] with no normalisation: mean 0 and std 1 by default. Many of its entries
// (WideResNet(..., sub_block1=True)) also carry a `sub_block1` group that the forward never runs: subBlock1 holds it
// so their state dicts load strictly and save back whole.
import type { Tensor } from '../../engine/index.js';
import { Module, Sequential, applyInOrder } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, GlobalAvgPool, InputNormalisation, dropout } from '../layers.js';
import { registerArchitecture, badField, checkNormalisation, posInt, type Architecture, type TensorShapes } from './registry.js';

export interface WideResNetConfig {
  /** 6n + 4: n blocks per group (28: 4). */
  depth: number;
  /** Channel multiplier of the three groups (10 for WRN-28-10). */
  widen: number;
  classes: number;
  inputChannels: number;
  mean: number[];
  std: number[];
  /** Dropout between a block's two convs in training mode (RobustBench: 0). */
  dropRate: number;
  /** Holds RobustBench's unused `sub_block1` group (a copy of block1's shape that the forward skips). */
  subBlock1: boolean;
}

/** Defaults: WRN-28-10, 10 classes, 3 channels, no normalisation, no dropout. */
export function wideResnetConfig(partial: Partial<WideResNetConfig> = {}): WideResNetConfig {
  const inputChannels = partial.inputChannels ?? 3;
  return {
    depth: 28, widen: 10, classes: 10, inputChannels, mean: new Array<number>(inputChannels).fill(0),
    std: new Array<number>(inputChannels).fill(1), dropRate: 0, subBlock1: false, ...partial,
  };
}

/**
 * Checks a WideResNet config as a file states it (JSON: any value of any type) and fills in wideResnetConfig's
 * defaults for inputChannels, mean, std, dropRate and subBlock1 (depth, widen and classes are required).
 * Throws `<where>: <field>: expected …, got …`, one line.
 */
export function checkWideResnetConfig(raw: unknown, where: string): WideResNetConfig {
  const bad = (field: string, expected: string, got: unknown): never => badField(where, field, expected, got);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('config', 'a JSON object', raw);
  const c = raw as Record<string, unknown>;
  const { depth, widen, classes } = c;
  if (!posInt(depth) || depth < 10 || (depth - 4) % 6 !== 0) bad('depth', '6n+4 ≥ 10 (10, 16, 22, 28, 34, …)', depth);
  if (!posInt(widen)) bad('widen', 'a positive integer', widen);
  if (!posInt(classes)) bad('classes', 'a positive integer', classes);
  const inputChannels = c.inputChannels ?? 3;
  if (!posInt(inputChannels)) bad('inputChannels', 'a positive integer', inputChannels);
  const ch = inputChannels as number;
  const norm = checkNormalisation(c, where, ch, { mean: new Array<number>(ch).fill(0), std: new Array<number>(ch).fill(1) });
  const dropRate = c.dropRate ?? 0;
  if (!(typeof dropRate === 'number' && dropRate >= 0 && dropRate < 1)) bad('dropRate', 'a number in [0, 1)', dropRate);
  const subBlock1 = c.subBlock1 ?? false;
  if (typeof subBlock1 !== 'boolean') bad('subBlock1', 'true or false', subBlock1);
  return {
    depth: depth as number, widen: widen as number, classes: classes as number, inputChannels: ch, ...norm,
    dropRate: dropRate as number, subBlock1: subBlock1 as boolean,
  };
}

/** RobustBench's BasicBlock: bn1 → relu1 → conv1 (stride) → bn2 → relu2 → [dropout] → conv2, plus the shortcut. */
export class WideBlock extends Module {
  readonly bn1: BatchNorm2d; readonly relu1: ReLU; readonly conv1: Conv2d; readonly bn2: BatchNorm2d;
  readonly relu2: ReLU; readonly conv2: Conv2d; readonly convShortcut: Conv2d | null;
  constructor(inC: number, outC: number, stride: number, readonly dropRate = 0) {
    super();
    this.bn1 = this.registerChild('bn1', new BatchNorm2d(inC));
    this.relu1 = this.registerChild('relu1', new ReLU());
    this.conv1 = this.registerChild('conv1', new Conv2d(inC, outC, 3, { stride, padding: 1 }));
    this.bn2 = this.registerChild('bn2', new BatchNorm2d(outC));
    this.relu2 = this.registerChild('relu2', new ReLU());
    this.conv2 = this.registerChild('conv2', new Conv2d(outC, outC, 3, { padding: 1 }));
    // As RobustBench: the shortcut conv exists exactly when the channel count changes (never a stride alone here).
    this.convShortcut = inC !== outC ? this.registerChild('convShortcut', new Conv2d(inC, outC, 1, { stride })) : null;
  }
  protected forward(x: Tensor): Tensor {
    const a = applyInOrder(x, [this.bn1, this.relu1]);
    const h = applyInOrder(a, [this.conv1, this.bn2, this.relu2]);
    const d = dropout(h, this.dropRate, this.training);
    if (d !== h) h.dispose();
    const out = this.conv2.call(d);
    d.dispose();
    const id = this.convShortcut === null ? x : this.convShortcut.call(a);
    a.dispose();
    const sum = id.add(out);
    out.dispose();
    if (id !== x) id.dispose();
    return sum;
  }
}

/** RobustBench's NetworkBlock: its blocks in a Sequential named 'layer'. */
export class WideGroup extends Module {
  readonly layer: Sequential;
  constructor(n: number, inC: number, outC: number, stride: number, dropRate: number) {
    super();
    const blocks: Module[] = [];
    for (let i = 0; i < n; i++) blocks.push(new WideBlock(i === 0 ? inC : outC, outC, i === 0 ? stride : 1, dropRate));
    this.layer = this.registerChild('layer', new Sequential(blocks));
  }
  protected forward(x: Tensor): Tensor { return this.layer.call(x); }
}

export class WideResNet extends Module {
  readonly config: WideResNetConfig;
  readonly conv1: Conv2d; readonly block1: WideGroup; readonly block2: WideGroup; readonly block3: WideGroup;
  readonly bn1: BatchNorm2d; readonly relu: ReLU; readonly fc: Linear;
  readonly #pool = new GlobalAvgPool();
  readonly #norm: InputNormalisation;
  constructor(config: Partial<WideResNetConfig> = {}) {
    super();
    const c = (this.config = checkWideResnetConfig(wideResnetConfig(config), 'WideResNet config'));
    const n = (c.depth - 4) / 6;
    const ch = [16, 16 * c.widen, 32 * c.widen, 64 * c.widen] as const;
    this.conv1 = this.registerChild('conv1', new Conv2d(c.inputChannels, ch[0], 3, { padding: 1 }));
    this.block1 = this.registerChild('block1', new WideGroup(n, ch[0], ch[1], 1, c.dropRate));
    if (c.subBlock1) this.registerChild('sub_block1', new WideGroup(n, ch[0], ch[1], 1, c.dropRate));
    this.block2 = this.registerChild('block2', new WideGroup(n, ch[1], ch[2], 2, c.dropRate));
    this.block3 = this.registerChild('block3', new WideGroup(n, ch[2], ch[3], 2, c.dropRate));
    this.bn1 = this.registerChild('bn1', new BatchNorm2d(ch[3]));
    this.relu = this.registerChild('relu', new ReLU());
    this.fc = this.registerChild('fc', new Linear(ch[3], c.classes));
    this.#norm = new InputNormalisation(c.mean, c.std);
  }

  /** Logits [B, classes] of images [B, inputChannels, H, W] in [0, 1]. */
  protected forward(x: Tensor): Tensor {
    const z = this.#norm.apply(x, `WideResNet-${this.config.depth}-${this.config.widen}`);
    const pooled = applyInOrder(z, [this.conv1, this.block1, this.block2, this.block3, this.bn1, this.relu, this.#pool]);
    z.dispose();
    const flat = pooled.flatten(1);
    pooled.dispose();
    return this.fc.call(flat);
  }

  /** The last block group: its output is the last convolutional feature map (before the final bn and relu). */
  override camLayer(): string { return 'block3'; }

  override architecture(): { name: string; config: WideResNetConfig } { return { name: 'wide-resnet', config: this.config }; }

  override dispose(): void { super.dispose(); this.#norm.dispose(); }
}

/**
 * The state-dict entries (name, shape) a WideResNet of config c has, in stateDict() order (RobustBench's, less the
 * num_batches_tracked counters), computed from the config alone. Lazy, like torchvisionResnetStateShapes.
 */
export function* wideResnetStateShapes(c: Pick<WideResNetConfig, 'depth' | 'widen' | 'classes' | 'inputChannels'> & { subBlock1?: boolean }): Generator<[string, number[]]> {
  const n = (c.depth - 4) / 6;
  const bn = function* (p: string, chans: number): Generator<[string, number[]]> {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) yield [`${p}.${k}`, [chans]];
  };
  const ch = [16, 16 * c.widen, 32 * c.widen, 64 * c.widen];
  yield ['conv1.weight', [ch[0]!, c.inputChannels, 3, 3]];
  const groups: [string, number][] = [['block1', 1], ...(c.subBlock1 ? [['sub_block1', 1] as [string, number]] : []), ['block2', 2], ['block3', 3]];
  for (const [name, g] of groups) {
    for (let i = 0; i < n; i++) {
      const inC = i === 0 ? ch[g - 1]! : ch[g]!, outC = ch[g]!;
      const p = `${name}.layer.${i}`;
      yield* bn(`${p}.bn1`, inC);
      yield [`${p}.conv1.weight`, [outC, inC, 3, 3]];
      yield* bn(`${p}.bn2`, outC);
      yield [`${p}.conv2.weight`, [outC, outC, 3, 3]];
      if (inC !== outC) yield [`${p}.convShortcut.weight`, [outC, inC, 1, 1]];
    }
  }
  yield* bn('bn1', ch[3]!);
  yield ['fc.weight', [c.classes, ch[3]!]];
  yield ['fc.bias', [c.classes]];
}

/**
 * The config a RobustBench-layout state dict implies (depth from block1's block count, widen from its first conv,
 * classes from fc, channels from conv1), or null when the tensors are not that layout. RobustBench's models take
 * [0, 1] images: mean and std are left to the checker's default (none).
 */
export function inferWideResnetConfig(tensors: TensorShapes): Record<string, unknown> | null {
  const stem = tensors.get('conv1.weight')?.shape, first = tensors.get('block1.layer.0.conv1.weight')?.shape, head = tensors.get('fc.weight')?.shape;
  if (stem?.length !== 4 || stem[0] !== 16 || first?.length !== 4 || head?.length !== 2) return null;
  if (first[0]! % 16 !== 0) return null;
  let n = 0;
  while (tensors.has(`block1.layer.${n}.conv1.weight`)) n++;
  return { depth: 6 * n + 4, widen: first[0]! / 16, classes: head[0], inputChannels: stem[1], subBlock1: tensors.has('sub_block1.layer.0.conv1.weight') };
}

/** "WideResNet-28-10 (RobustBench), 10 classes, 3 channels". */
export function describeWideResnet(c: WideResNetConfig): string {
  return `WideResNet-${c.depth}-${c.widen} (RobustBench${c.subBlock1 ? ', with sub_block1' : ''}), ${c.classes} classes, ${c.inputChannels} channel${c.inputChannels === 1 ? '' : 's'}`;
}

/**
 * The RobustBench WideResNet as a registered architecture: converted RobustBench state dicts carry no config, it is
 * read off the names (inferWideResnetConfig), with no normalisation. `train --arch wide-resnet` takes --depth 6n+4
 * and, as a single number, --widths K (the widen factor; 10 otherwise).
 */
export const wideResnetArchitecture: Architecture<WideResNetConfig> = {
  name: 'wide-resnet',
  summary: 'the WideResNet of RobustBench (--depth 6n+4, e.g. 28; --widths K: widen factor, 10 by default)',
  defaultInputSize: [32, 32],
  check: (raw, where) => checkWideResnetConfig(raw, where),
  build: (c) => new WideResNet(c),
  stateShapes: wideResnetStateShapes,
  infer: (tensors) => inferWideResnetConfig(tensors),
  describe: describeWideResnet,
  input: (c) => ({ channels: c.inputChannels, mean: [...c.mean], std: [...c.std] }),
  // `--arch wrn-28-10` fixes depth and widen factor; `--arch wide-resnet` takes them from --depth and --widths.
  aliases: { 'wrn-28-10': { depth: 28, widen: 10 }, 'wrn-34-10': { depth: 34, widen: 10 }, 'wrn-70-16': { depth: 70, widen: 16 }, 'wrn-16-4': { depth: 16, widen: 4 } },
  forTraining(o, preset = {}) {
    return checkWideResnetConfig({
      depth: preset.depth ?? o.depth, widen: preset.widen ?? (o.widths.length === 1 ? o.widths[0] : 10), classes: o.classes, inputChannels: o.input.channels,
      mean: o.input.mean, std: o.input.std,
    }, 'wide-resnet: --depth/--widths');
  },
};
registerArchitecture(wideResnetArchitecture);
