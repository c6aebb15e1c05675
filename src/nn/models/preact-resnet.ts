// The paper's pre-activation ResNet (METHOD.md §1). ResNet-44 = depth 44 = 6·7 + 2.
// Module names reproduce the reference's state dict: input_offset, pipe.0 (stem), pipe.1–3 (stages),
// pipe.4 (BN), pipe.5 (activation), pipe.6 (pool), pipe.7 (1×1 conv classifier).
import { Tensor, tensor, noGrad } from '../../engine/index.js';
import { Module, Sequential } from '../module.js';
import { BatchNorm2d, Conv2d, GlobalAvgPool, makeActivation, type Activation } from '../layers.js';
import { registerArchitecture, badField, posInt, type Architecture } from './registry.js';

export interface PreActResNetConfig {
  depth: number;              // 6n + 2
  widths: [number, number, number];
  classes: number;
  activation: Activation;
  inputChannels: number;
  /** Row 0 channel means, row 1 channel stds: the model's first operation is (x − mean)/std. */
  inputOffset: [number[], number[]];
}

export const CIFAR_INPUT_OFFSET: [number[], number[]] = [[0.4914, 0.4822, 0.4465], [0.247, 0.243, 0.261]];

export function resnetConfig(partial: Partial<PreActResNetConfig> = {}): PreActResNetConfig {
  return {
    depth: 44, widths: [16, 32, 64], classes: 10, activation: 'relu', inputChannels: 3,
    inputOffset: CIFAR_INPUT_OFFSET, ...partial,
  };
}

export class PreActBlock extends Module {
  readonly pre: Sequential;
  readonly main: Sequential;
  readonly shortcut: Conv2d | null;
  constructor(inC: number, outC: number, stride: number, act: Activation) {
    super();
    this.pre = this.registerChild('pre', new Sequential([new BatchNorm2d(inC), makeActivation(act)]));
    const last = new Conv2d(outC, outC, 3, { padding: 1 });
    // Zero-initialised last conv: every block starts as its shortcut.
    noGrad(() => last.weight.zero_());
    this.main = this.registerChild('main', new Sequential([
      new Conv2d(inC, outC, 3, { stride, padding: 1 }), new BatchNorm2d(outC), makeActivation(act), last,
    ]));
    this.shortcut = inC !== outC || stride !== 1
      ? this.registerChild('shortcut', new Conv2d(inC, outC, 3, { stride, padding: 1 }))
      : null;
  }
  protected forward(x: Tensor): Tensor {
    const pre = this.pre.call(x);
    const h = this.main.call(pre);
    return h.add(this.shortcut ? this.shortcut.call(pre) : x);
  }
}

export class PreActResNet extends Module {
  readonly config: PreActResNetConfig;
  readonly inputOffset: Tensor;
  readonly pipe: Sequential;
  constructor(config: Partial<PreActResNetConfig> = {}) {
    super();
    const c = (this.config = resnetConfig(config));
    if ((c.depth - 2) % 6 !== 0 || c.depth < 8) throw new Error(`depth must be 6n+2 with n ≥ 1, got ${c.depth}`);
    const n = (c.depth - 2) / 6;
    this.inputOffset = this.registerBuffer('input_offset', tensor([...c.inputOffset[0], ...c.inputOffset[1]], [2, c.inputChannels]));
    const stages: Module[] = [];
    let inC = c.widths[0];
    c.widths.forEach((w, s) => {
      const blocks: Module[] = [];
      for (let i = 0; i < n; i++) {
        blocks.push(new PreActBlock(inC, w, s > 0 && i === 0 ? 2 : 1, c.activation));
        inC = w;
      }
      stages.push(new Sequential(blocks));
    });
    this.pipe = this.registerChild('pipe', new Sequential([
      new Conv2d(c.inputChannels, c.widths[0], 3, { padding: 1 }),
      ...stages,
      new BatchNorm2d(inC),
      makeActivation(c.activation),
      new GlobalAvgPool(),
      new Conv2d(inC, c.classes, 1, { bias: true }),
    ]));
  }

  /** Logits [B, classes] of raw images in [0, 1], NCHW. */
  protected forward(x: Tensor): Tensor {
    const c = this.config.inputChannels;
    const mean = this.inputOffset.select(0, 0).reshape([1, c, 1, 1]);
    const std = this.inputOffset.select(0, 1).reshape([1, c, 1, 1]);
    const z = this.pipe.call(x.sub(mean).div(std));
    return z.flatten(1);
  }

  /** The config, with the normalisation the network holds now (a loaded state dict may have replaced the built one). */
  override architecture(): { name: string; config: PreActResNetConfig } {
    const v = Array.from(this.inputOffset.data<Float32Array>()), c = this.config.inputChannels;
    return { name: 'preact-resnet', config: { ...this.config, inputOffset: [v.slice(0, c), v.slice(c, 2 * c)] } };
  }

  override camLayer(): string { return `pipe.${this.pipe.layers.indexOf(this.stages[this.stages.length - 1]!)}`; }

  /** The three stages (pipe.1–3); the last one's output is the last conv feature map, Grad-CAM's default layer. */
  get stages(): Sequential[] { return this.pipe.layers.slice(1, 4) as Sequential[]; }
}

/**
 * The state-dict entries (name, shape) a PreActResNet of config c has, in stateDict() order, computed from the
 * config alone (nothing is built): a model file or checkpoint is checked against them before a network is made.
 * Lazy, so a caller comparing with a file stops at the first difference whatever depth the config claims.
 */
export function* resnetStateShapes(c: Pick<PreActResNetConfig, 'depth' | 'widths' | 'classes' | 'activation' | 'inputChannels'>): Generator<[string, number[]]> {
  const n = (c.depth - 2) / 6;
  const hh = c.activation === 'half-huber';
  const bn = function* (p: string, ch: number): Generator<[string, number[]]> {
    for (const k of ['weight', 'bias', 'running_mean', 'running_var']) yield [`${p}.${k}`, [ch]];
  };
  yield ['input_offset', [2, c.inputChannels]];
  yield ['pipe.0.weight', [c.widths[0], c.inputChannels, 3, 3]];
  let inC = c.widths[0];
  for (let s = 0; s < 3; s++) {
    const w = c.widths[s]!;
    for (let i = 0; i < n; i++) {
      const p = `pipe.${s + 1}.${i}`;
      yield* bn(`${p}.pre.0`, inC);
      if (hh) yield [`${p}.pre.1.d`, [1]];
      yield [`${p}.main.0.weight`, [w, inC, 3, 3]];
      yield* bn(`${p}.main.1`, w);
      if (hh) yield [`${p}.main.2.d`, [1]];
      yield [`${p}.main.3.weight`, [w, w, 3, 3]];
      if (inC !== w || (s > 0 && i === 0)) yield [`${p}.shortcut.weight`, [w, inC, 3, 3]];
      inC = w;
    }
  }
  yield* bn('pipe.4', inC);
  if (hh) yield ['pipe.5.d', [1]];
  yield ['pipe.7.weight', [c.classes, inC, 1, 1]];
  yield ['pipe.7.bias', [c.classes]];
}

/**
 * The paper's network as a registered architecture. Its files come in two kinds: advexp's, whose metadata states the
 * config, and the reference's, whose config is read off the tensor names (`pipe.1.0.main.0.weight` …) and the
 * `input_offset` tensor.
 */
export const preactResnetArchitecture: Architecture<PreActResNetConfig> = {
  name: 'preact-resnet',
  summary: "the paper's pre-activation ResNet (--depth 6n+2, --widths A,B,C, --activation)",
  // The paper's nets are CIFAR-10 nets: files that do not say otherwise take 32×32.
  defaultInputSize: [32, 32],
  check(c, where) {
    const { depth, widths, classes } = c;
    if (!posInt(depth) || depth < 8 || (depth - 2) % 6 !== 0) badField(where, 'depth', '6n+2 ≥ 8 (8, 14, 20, …, 44)', depth);
    if (!Array.isArray(widths) || widths.length !== 3 || !widths.every(posInt)) badField(where, 'widths', 'three positive integers', widths);
    if (!posInt(classes)) badField(where, 'classes', 'a positive integer', classes);
    const activation = c.activation ?? 'relu';
    if (activation !== 'relu' && activation !== 'half-huber') badField(where, 'activation', 'relu or half-huber', activation);
    const inputChannels = c.inputChannels ?? 3;
    if (!posInt(inputChannels)) badField(where, 'inputChannels', 'a positive integer', inputChannels);
    const ch = inputChannels as number;
    const inputOffset = c.inputOffset ?? (ch === 3 ? CIFAR_INPUT_OFFSET : undefined);
    const row = (r: unknown, positive: boolean): boolean => Array.isArray(r) && r.length === ch &&
      r.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
    if (!Array.isArray(inputOffset) || inputOffset.length !== 2 || !row(inputOffset[0], false) || !row(inputOffset[1], true)) {
      badField(where, 'inputOffset', `[means, stds]: two lists of ${ch} finite numbers, the stds > 0`, inputOffset);
    }
    return {
      depth: depth as number, widths: [...(widths as number[])] as [number, number, number], classes: classes as number,
      activation: activation as Activation, inputChannels: ch, inputOffset: inputOffset as [number[], number[]],
    };
  },
  build: (c) => new PreActResNet(c),
  stateShapes: resnetStateShapes,
  infer(tensors, values) {
    const stem = tensors.get('pipe.0.weight')?.shape, head = tensors.get('pipe.7.weight')?.shape;
    if (stem?.length !== 4 || head?.length !== 4 || !tensors.has('pipe.1.0.main.0.weight')) return null;
    let blocks = 0;
    while (tensors.has(`pipe.1.${blocks}.main.0.weight`)) blocks++;
    const widths = [1, 2, 3].map((s) => tensors.get(`pipe.${s}.0.main.0.weight`)?.shape[0]);
    const hasD = [...tensors.keys()].some((k) => k.endsWith('.d'));
    const off = values('input_offset');
    const c = stem[1]!;
    return {
      depth: 6 * blocks + 2, widths, classes: head[0], activation: hasD ? 'half-huber' : 'relu', inputChannels: c,
      inputOffset: off === null || off.length !== 2 * c ? null : [Array.from(off).slice(0, c), Array.from(off).slice(c, 2 * c)],
    };
  },
  describe: (c) => `PreActResNet-${c.depth} ${c.widths.join('/')} ${c.activation}, ${c.classes} classes, ${c.inputChannels} channel${c.inputChannels === 1 ? '' : 's'}`,
  input: (c) => ({ channels: c.inputChannels, mean: [...c.inputOffset[0]], std: [...c.inputOffset[1]] }),
  forTraining(o) {
    if (o.widths.length !== 3) throw new Error(`preact-resnet: --widths needs three numbers, got ${o.widths.length}`);
    return resnetConfig({
      depth: o.depth, widths: o.widths as [number, number, number], activation: o.activation, classes: o.classes,
      inputChannels: o.input.channels, inputOffset: [o.input.mean, o.input.std],
    });
  },
};
registerArchitecture(preactResnetArchitecture);
