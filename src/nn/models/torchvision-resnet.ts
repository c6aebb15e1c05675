// torchvision's ResNet (torchvision.models.resnet18/34/50/101/152): BasicBlock for 18 and 34, Bottleneck (stride
// on the 3×3 conv, "v1.5") for 50 and up, the ImageNet stem (7×7/2 conv, 3×3/2 max pool) and an adaptive average
// pool, so any input size works (32 px is the smallest where layer4 still sees more than padding).
// Module names are torchvision's, so its state dicts load as they are: conv1, bn1, layer1.0.conv1,
// layer1.0.downsample.0/1, …, fc. PyTorch's `num_batches_tracked` counters are not held (withoutBatchCounters in
// layers.ts drops them from a file; PyTorch fills them in when loading a dict without them).
// Normalisation (x − mean)/std is the module's first operation, as for every advexp model (images in [0, 1]); it is
// config, not state, because torchvision's state dict has no tensor for it.
import { isGradEnabled, type Tensor } from '../../engine/index.js';
import { Module, Sequential } from '../module.js';
import { BatchNorm2d, Conv2d, Linear, ReLU, MaxPool2d, AdaptiveAvgPool2d, InputNormalisation } from '../layers.js';
import { registerArchitecture, badField, checkNormalisation, posInt, type Architecture, type TensorShapes } from './registry.js';

export interface TorchvisionResNetConfig {
  /** 18 and 34: BasicBlock; 50, 101, 152: Bottleneck. */
  depth: 18 | 34 | 50 | 101 | 152;
  /**
   * Base width: the stem's channels and layer1's planes (torchvision: 64); every channel count scales with it, so
   * width 8 is torchvision's network at 1/8 of its channels. Not torchvision's `width_per_group`.
   */
  width: number;
  classes: number;
  inputChannels: number;
  /** Per-channel mean and std of the normalisation applied to images in [0, 1] (ImageNet's for torchvision weights). */
  mean: number[];
  std: number[];
}

export const IMAGENET_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly number[] = [0.229, 0.224, 0.225];

/** Blocks per stage and block kind of each depth (torchvision's table). */
const LAYOUT: Record<TorchvisionResNetConfig['depth'], { blocks: [number, number, number, number]; bottleneck: boolean }> = {
  18: { blocks: [2, 2, 2, 2], bottleneck: false },
  34: { blocks: [3, 4, 6, 3], bottleneck: false },
  50: { blocks: [3, 4, 6, 3], bottleneck: true },
  101: { blocks: [3, 4, 23, 3], bottleneck: true },
  152: { blocks: [3, 8, 36, 3], bottleneck: true },
};

const DEPTHS = [18, 34, 50, 101, 152] as const;

/** The normalisation that leaves images as they are, for C channels. */
function identityNorm(c: number): { mean: number[]; std: number[] } {
  return { mean: new Array<number>(c).fill(0), std: new Array<number>(c).fill(1) };
}

/** Defaults: ResNet-18, width 64, 1000 classes, 3 channels, ImageNet's normalisation (none for other channel counts). */
export function torchvisionResnetConfig(partial: Partial<TorchvisionResNetConfig> = {}): TorchvisionResNetConfig {
  const inputChannels = partial.inputChannels ?? 3;
  const norm = inputChannels === 3 ? { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] } : identityNorm(inputChannels);
  return { depth: 18, width: 64, classes: 1000, inputChannels, ...norm, ...partial };
}

/**
 * Checks a torchvision-ResNet config as a file states it (JSON: any value of any type) and fills in
 * torchvisionResnetConfig's defaults for width, inputChannels, mean and std (depth and classes are required).
 * Throws `<where>: <field>: expected …, got …`, one line.
 */
export function checkTorchvisionResnetConfig(raw: unknown, where: string): TorchvisionResNetConfig {
  const bad = (field: string, expected: string, got: unknown): never => badField(where, field, expected, got);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('config', 'a JSON object', raw);
  const c = raw as Record<string, unknown>;
  if (!DEPTHS.includes(c.depth as TorchvisionResNetConfig['depth'])) bad('depth', `one of ${DEPTHS.join(', ')}`, c.depth);
  const width = c.width ?? 64;
  if (!posInt(width)) bad('width', 'a positive integer (torchvision: 64)', width);
  if (!posInt(c.classes)) bad('classes', 'a positive integer', c.classes);
  const inputChannels = c.inputChannels ?? 3;
  if (!posInt(inputChannels)) bad('inputChannels', 'a positive integer', inputChannels);
  const ch = inputChannels as number;
  const norm = checkNormalisation(c, where, ch, ch === 3 ? { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] } : identityNorm(ch));
  return { depth: c.depth as TorchvisionResNetConfig['depth'], width: width as number, classes: c.classes as number, inputChannels: ch, ...norm };
}

/** conv3x3 → bn → relu → conv3x3 → bn, plus the shortcut, then relu (torchvision's BasicBlock). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly relu: ReLU;
  readonly conv2: Conv2d; readonly bn2: BatchNorm2d; readonly downsample: Sequential | null;
  constructor(inC: number, planes: number, stride: number) {
    super();
    this.conv1 = this.registerChild('conv1', new Conv2d(inC, planes, 3, { stride, padding: 1 }));
    this.bn1 = this.registerChild('bn1', new BatchNorm2d(planes));
    this.relu = this.registerChild('relu', new ReLU());
    this.conv2 = this.registerChild('conv2', new Conv2d(planes, planes, 3, { padding: 1 }));
    this.bn2 = this.registerChild('bn2', new BatchNorm2d(planes));
    this.downsample = stride !== 1 || inC !== planes ? this.registerChild('downsample', shortcut(inC, planes, stride)) : null;
  }
  protected forward(x: Tensor): Tensor {
    return residual(x, chain(x, [this.conv1, this.bn1, this.relu, this.conv2, this.bn2]), this.downsample, this.bn2);
  }
}

/** 1×1 → 3×3 (stride here) → 1×1 ×4, each with bn, plus the shortcut, then relu (torchvision's Bottleneck). */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d; readonly bn3: BatchNorm2d; readonly relu: ReLU; readonly downsample: Sequential | null;
  constructor(inC: number, planes: number, stride: number) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerChild('conv1', new Conv2d(inC, planes, 1));
    this.bn1 = this.registerChild('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerChild('conv2', new Conv2d(planes, planes, 3, { stride, padding: 1 }));
    this.bn2 = this.registerChild('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerChild('conv3', new Conv2d(planes, out, 1));
    this.bn3 = this.registerChild('bn3', new BatchNorm2d(out));
    this.relu = this.registerChild('relu', new ReLU());
    this.downsample = stride !== 1 || inC !== out ? this.registerChild('downsample', shortcut(inC, out, stride)) : null;
  }
  protected forward(x: Tensor): Tensor {
    const { conv1, bn1, relu, conv2, bn2, conv3, bn3 } = this;
    return residual(x, chain(x, [conv1, bn1, relu, conv2, bn2, relu, conv3, bn3]), this.downsample, bn3);
  }
}

/**
 * applyInOrder, except that without autograd recording a ReLU right after a BatchNorm2d runs in place on the
 * batch norm's fresh output, as torchvision's ReLU(inplace=True) does (fewer fresh buffers: at 224 px the stem's
 * are 100 MB at batch 32, above glibc's mmap threshold, so each new one is page-faulted in). Not where a forward
 * hook on either module may hold or replace that tensor; while recording, always out of place (a hook's leaf view
 * would refuse an in-place op).
 */
function chain(x: Tensor, modules: readonly Module[]): Tensor {
  const inPlace = !isGradEnabled();
  let h = x;
  let prev: Module | null = null;
  for (const m of modules) {
    if (inPlace && m instanceof ReLU && prev instanceof BatchNorm2d && h !== x && m.forwardHook === null && prev.forwardHook === null) {
      h.relu_();
    } else {
      const next = m.call(h);
      if (h !== x) h.dispose();
      h = next;
    }
    prev = m;
  }
  return h;
}

/** torchvision's shortcut where the shape changes ('downsample'): a strided 1×1 conv and bn. */
function shortcut(inC: number, outC: number, stride: number): Sequential {
  return new Sequential([new Conv2d(inC, outC, 1, { stride }), new BatchNorm2d(outC)]);
}

/**
 * relu(h + shortcut(x)), h the output of the block's last bn (`last`). Without autograd recording (inference) this
 * runs in place on h, as torchvision's `out += identity; relu(inplace)`: two fresh buffers fewer per block, and at
 * 224 px the first stage's outputs are above glibc's mmap threshold, so each fresh one is page-faulted in. Not when
 * a forward hook on `last` may hold h, and never while recording (a hook's leaf view refuses in-place ops).
 */
function residual(x: Tensor, h: Tensor, shortcut: Sequential | null, last: Module): Tensor {
  const id = shortcut === null ? x : shortcut.call(x);
  if (!isGradEnabled() && last.forwardHook === null) {
    h.add_(id).relu_();
    if (id !== x) id.dispose();
    return h;
  }
  const s = h.add(id);
  h.dispose();
  if (id !== x) id.dispose();
  const out = s.relu();
  s.dispose();
  return out;
}

export class TorchvisionResNet extends Module {
  readonly config: TorchvisionResNetConfig;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly relu: ReLU; readonly maxpool: MaxPool2d;
  readonly layer1: Sequential; readonly layer2: Sequential; readonly layer3: Sequential; readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d; readonly fc: Linear;
  readonly #norm: InputNormalisation;
  constructor(config: Partial<TorchvisionResNetConfig> = {}) {
    super();
    const c = (this.config = checkTorchvisionResnetConfig(torchvisionResnetConfig(config), 'TorchvisionResNet config'));
    const { blocks, bottleneck } = LAYOUT[c.depth];
    const Block = bottleneck ? Bottleneck : BasicBlock;
    const w = c.width;
    this.conv1 = this.registerChild('conv1', new Conv2d(c.inputChannels, w, 7, { stride: 2, padding: 3 }));
    this.bn1 = this.registerChild('bn1', new BatchNorm2d(w));
    this.relu = this.registerChild('relu', new ReLU());
    this.maxpool = this.registerChild('maxpool', new MaxPool2d(3, 2, 1));
    let inC = w;
    const layers = blocks.map((n, s) => {
      const planes = w << s;
      const list: Module[] = [];
      for (let i = 0; i < n; i++) {
        list.push(new Block(inC, planes, s > 0 && i === 0 ? 2 : 1));
        inC = planes * Block.expansion;
      }
      return this.registerChild(`layer${s + 1}`, new Sequential(list));
    });
    [this.layer1, this.layer2, this.layer3, this.layer4] = layers as [Sequential, Sequential, Sequential, Sequential];
    this.avgpool = this.registerChild('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = this.registerChild('fc', new Linear(inC, c.classes));
    this.#norm = new InputNormalisation(c.mean, c.std);
  }

  /** Logits [B, classes] of images [B, inputChannels, H, W] in [0, 1]. */
  protected forward(x: Tensor): Tensor {
    const z = this.#norm.apply(x, `ResNet-${this.config.depth}`);
    const pooled = chain(z, [this.conv1, this.bn1, this.relu, this.maxpool, this.layer1, this.layer2, this.layer3, this.layer4, this.avgpool]);
    z.dispose();
    const flat = pooled.flatten(1);
    pooled.dispose();
    return this.fc.call(flat);
  }

  override camLayer(): string { return 'layer4'; }

  override architecture(): { name: string; config: TorchvisionResNetConfig } { return { name: 'torchvision-resnet', config: this.config }; }

  override dispose(): void { super.dispose(); this.#norm.dispose(); }
}

/**
 * The state-dict entries (name, shape) a TorchvisionResNet of config c has, in stateDict() order (torchvision's,
 * less the num_batches_tracked counters), computed from the config alone: a file is checked against them before a
 * network is built. Lazy, so a comparison stops at the first difference whatever size the config claims.
 */
export function* torchvisionResnetStateShapes(c: Pick<TorchvisionResNetConfig, 'depth' | 'width' | 'classes' | 'inputChannels'>): Generator<[string, number[]]> {
  const { blocks, bottleneck } = LAYOUT[c.depth];
  const expansion = bottleneck ? 4 : 1;
  const bn = function* (p: string, ch: number): Generator<[string, number[]]> {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) yield [`${p}.${k}`, [ch]];
  };
  const w = c.width;
  yield ['conv1.weight', [w, c.inputChannels, 7, 7]];
  yield* bn('bn1', w);
  let inC = w;
  for (let s = 0; s < 4; s++) {
    const planes = w << s;
    for (let i = 0; i < blocks[s]!; i++) {
      const p = `layer${s + 1}.${i}`;
      const stride = s > 0 && i === 0 ? 2 : 1;
      const out = planes * expansion;
      if (bottleneck) {
        yield [`${p}.conv1.weight`, [planes, inC, 1, 1]];
        yield* bn(`${p}.bn1`, planes);
        yield [`${p}.conv2.weight`, [planes, planes, 3, 3]];
        yield* bn(`${p}.bn2`, planes);
        yield [`${p}.conv3.weight`, [out, planes, 1, 1]];
        yield* bn(`${p}.bn3`, out);
      } else {
        yield [`${p}.conv1.weight`, [planes, inC, 3, 3]];
        yield* bn(`${p}.bn1`, planes);
        yield [`${p}.conv2.weight`, [planes, planes, 3, 3]];
        yield* bn(`${p}.bn2`, planes);
      }
      if (stride !== 1 || inC !== out) {
        yield [`${p}.downsample.0.weight`, [out, inC, 1, 1]];
        yield* bn(`${p}.downsample.1`, out);
      }
      inC = out;
    }
  }
  yield ['fc.weight', [c.classes, inC]];
  yield ['fc.bias', [c.classes]];
}

/**
 * The config a PyTorch state dict of this layout implies, read off its names and shapes (depth from the blocks per
 * stage and the block kind, width from conv1, classes from fc), or null when the tensors are not torchvision's
 * ResNet of a known depth. Normalisation is not in a state dict: the result leaves mean and std out (the checker's
 * default, ImageNet's for 3 channels, applies unless the caller has better).
 */
export function inferTorchvisionResnetConfig(tensors: TensorShapes): Record<string, unknown> | null {
  const stem = tensors.get('conv1.weight')?.shape, head = tensors.get('fc.weight')?.shape;
  if (stem?.length !== 4 || stem[2] !== 7 || head?.length !== 2 || !tensors.has('layer1.0.conv1.weight')) return null;
  const bottleneck = tensors.has('layer1.0.conv3.weight');
  const blocks = [1, 2, 3, 4].map((s) => { let i = 0; while (tensors.has(`layer${s}.${i}.conv1.weight`)) i++; return i; });
  const depth = DEPTHS.find((d) => LAYOUT[d].bottleneck === bottleneck && LAYOUT[d].blocks.every((n, s) => n === blocks[s]));
  if (depth === undefined) return null;
  return { depth, width: stem[0], classes: head[0], inputChannels: stem[1] };
}

/** "ResNet-50 (torchvision, width 64), 1000 classes, 3 channels". */
export function describeTorchvisionResnet(c: TorchvisionResNetConfig): string {
  return `ResNet-${c.depth} (torchvision, width ${c.width}), ${c.classes} classes, ${c.inputChannels} channel${c.inputChannels === 1 ? '' : 's'}`;
}

/**
 * torchvision's ResNet as a registered architecture. Files converted from torchvision state dicts carry no config:
 * it is read off the names (inferTorchvisionResnetConfig), with ImageNet's normalisation for 3 channels.
 * `train --arch torchvision-resnet` takes --depth 18|34|50|101|152 and, as a single number, --widths W (the base
 * width; 64 otherwise).
 */
export const torchvisionResnetArchitecture: Architecture<TorchvisionResNetConfig> = {
  name: 'torchvision-resnet',
  summary: "torchvision's ResNet (--depth 18|34|50|101|152, --widths W: base width, 64 by default), ImageNet stem",
  defaultInputSize: [224, 224],
  check: (raw, where) => checkTorchvisionResnetConfig(raw, where),
  build: (c) => new TorchvisionResNet(c),
  stateShapes: torchvisionResnetStateShapes,
  infer: (tensors) => inferTorchvisionResnetConfig(tensors),
  describe: describeTorchvisionResnet,
  input: (c) => ({ channels: c.inputChannels, mean: [...c.mean], std: [...c.std] }),
  // `--arch resnet50` fixes the depth; `--arch torchvision-resnet` takes it from --depth.
  aliases: Object.fromEntries(DEPTHS.map((d) => [`resnet${d}`, { depth: d }])),
  forTraining(o, preset = {}) {
    const depth = (preset.depth ?? o.depth) as TorchvisionResNetConfig['depth'];
    if (!DEPTHS.includes(depth)) throw new Error(`torchvision-resnet: --depth: expected one of ${DEPTHS.join(', ')}, got ${depth}`);
    return checkTorchvisionResnetConfig({
      depth, width: o.widths.length === 1 ? o.widths[0] : 64, classes: o.classes, inputChannels: o.input.channels,
      mean: o.input.mean, std: o.input.std,
    }, 'torchvision-resnet');
  },
};
registerArchitecture(torchvisionResnetArchitecture);
