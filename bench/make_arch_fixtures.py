"""Writes the PyTorch parity fixtures of the built-in architectures into test/fixtures/archs/ (committed; the tests
need no Python). Run with Debian's torch 1.13 + torchvision 0.14:

  /usr/bin/python3 bench/make_arch_fixtures.py [--out test/fixtures/archs]

Networks (random weights, batch norms with non-trivial affine parameters and running statistics from a few
train-mode calibration batches):
  resnet18-w4   torchvision.models.resnet18(num_classes=10) made narrow: every Conv2d, BatchNorm2d and the Linear of
                torchvision's own ResNet object is swapped for one with channels × 4/64 (the stem's input stays 3,
                fc's output stays 10). The ResNet class, its forward and its module names are torchvision's.
  resnet50-w2   the same (channels × 2/64) from torchvision.models.resnet50 (Bottleneck).
  wrn-10-2, wrn-16-1   the RobustBench WideResNet layout (robustbench/model_zoo/architectures/wide_resnet.py),
                written below from its description: names conv1, block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2,
                convShortcut}, bn1, fc. wrn-10-2 has a channel change at stride 1 (block1.layer.0, as in WRN-28-10);
                wrn-16-1 has equal-channel blocks (identity shortcut on the raw input) and RobustBench's unused
                sub_block1 group (WideResNet(..., sub_block1=True), as many of its checkpoints). Stored as F16 to keep the
                fixtures small; the expected outputs are computed with those F16-rounded values.
Weights files are what the converter snippet (save_safetensors below, docs/convert.md) writes from a state dict,
num_batches_tracked counters included. Each case's <case>.io.safetensors holds the images (U8, x = u8/255), labels,
eval-mode logits and the input gradient of sum_i log_softmax(logits)_i[y_i] (all of it, or every k-th element
with its sum, L1 and L2 norms for the 224×224 case), and for some a train-mode forward (logits and bn1's
running mean after it). The weights' metadata `advexp_model` is what advexp's model files state: JSON of
{"arch": "torchvision-resnet" | "wide-resnet", ...config}.
"""
import argparse
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# ---- the converter (also in docs/convert.md): a state dict to safetensors with torch (and numpy) only ----
_DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64',
           torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
           torch.bool: 'BOOL'}


def save_safetensors(tensors, path, metadata=None):
    """tensors: {name: tensor} (e.g. model.state_dict()); metadata: {str: str}. Little-endian, as safetensors is."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {'dtype': _DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


# ---- the RobustBench WideResNet layout ----
class WideBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.convShortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if cin != cout else None

    def forward(self, x):
        a = self.relu1(self.bn1(x))
        h = self.conv2(self.relu2(self.bn2(self.conv1(a))))
        # A channel change takes its shortcut from the activated input, an equal-channel block adds the raw one.
        return torch.add(x if self.convShortcut is None else self.convShortcut(a), h)


class WideGroup(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(*[WideBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, widen, classes, sub_block1=False):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.conv1 = nn.Conv2d(3, ch[0], 3, 1, 1, bias=False)
        self.block1 = WideGroup(n, ch[0], ch[1], 1)
        if sub_block1:  # in many RobustBench checkpoints; never run
            self.sub_block1 = WideGroup(n, ch[0], ch[1], 1)
        self.block2 = WideGroup(n, ch[1], ch[2], 2)
        self.block3 = WideGroup(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU()
        self.fc = nn.Linear(ch[3], classes)
        self.channels = ch[3]

    def forward(self, x):
        h = self.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))
        return self.fc(F.avg_pool2d(h, 8).view(-1, self.channels))


# ---- narrow torchvision ResNets ----
def narrow_torchvision(model, width):
    """Swaps every Conv2d / BatchNorm2d / Linear of a torchvision ResNet for one with channels × width/64."""
    s = lambda c: c * width // 64  # noqa: E731
    for name, m in list(model.named_modules()):
        parent = model
        *path, leaf = name.split('.') if name else ['']
        for p in path:
            parent = getattr(parent, p)
        if isinstance(m, nn.Conv2d):
            cin = m.in_channels if name == 'conv1' else s(m.in_channels)
            new = nn.Conv2d(cin, s(m.out_channels), m.kernel_size, m.stride, m.padding, bias=False)
        elif isinstance(m, nn.BatchNorm2d):
            new = nn.BatchNorm2d(s(m.num_features))
        elif isinstance(m, nn.Linear):
            new = nn.Linear(s(m.in_features), m.out_features)
        else:
            continue
        setattr(parent, leaf, new)
    return model


def randomise(model, mean, std, size, gen):
    """Kaiming-normal convs (torchvision's), random BN affines, then running statistics from 4 train-mode batches."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(normalise(torch.rand(8, 3, *size, generator=gen), mean, std))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    return model.eval()


def normalise(x, mean, std):
    c = x.shape[1]
    return (x - torch.tensor(mean).reshape(1, c, 1, 1)) / torch.tensor(std).reshape(1, c, 1, 1)


def to_half_values(model):
    """Rounds every float tensor of the state to float16 (kept float32 in the model): what an F16 file holds."""
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())


def io_case(model, mean, std, images, labels, grad_stride=1, train=False):
    """Expected outputs for images (uint8 [B, C, H, W]) and labels: eval logits and input gradient; train forward."""
    out = {'images': images, 'labels': labels}
    model.eval()
    x = (images.float() / 255).requires_grad_(True)
    logits = model(normalise(x, mean, std))
    loss = logits.log_softmax(1).gather(1, labels[:, None]).sum()
    (g,) = torch.autograd.grad(loss, x)
    out['logits'] = logits.detach()
    flat = g.flatten()
    if grad_stride == 1:
        out['grad'] = g
    else:
        out['grad_sub'] = flat[::grad_stride].clone()
        d = flat.double()
        out['grad_stats'] = torch.stack([d.sum(), d.abs().sum(), d.square().sum().sqrt()])
    if train:
        state = {k: v.clone() for k, v in model.state_dict().items()}
        model.train()
        with torch.no_grad():
            out['train_logits'] = model(normalise(images.float() / 255, mean, std))
        out['train_bn1_running_mean'] = model.bn1.running_mean.clone()
        model.load_state_dict(state)
        model.eval()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'archs'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    imagenet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    zero_one = ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])

    def images(b, h, w):
        return torch.randint(0, 256, (b, 3, h, w), generator=gen, dtype=torch.uint8)

    def labels(b):
        return torch.randint(0, 10, (b,), generator=gen)

    def write(name, model, arch, config, half=False):
        state = model.state_dict()
        if half:
            state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
        meta = {'advexp_model': json.dumps({'arch': arch, **config})}
        save_safetensors(state, os.path.join(a.out, f'{name}.safetensors'), meta)

    def write_io(name, weights, arch, config, tensors):
        meta = {'weights': f'{weights}.safetensors'}
        save_safetensors(tensors, os.path.join(a.out, f'{name}.io.safetensors'), meta)

    for depth, width in ((18, 4), (50, 2)):
        name = f'resnet{depth}-w{width}'
        model = narrow_torchvision(getattr(torchvision.models, f'resnet{depth}')(num_classes=10), width)
        randomise(model, *imagenet, (64, 64), gen)
        config = {'depth': depth, 'width': width, 'classes': 10, 'inputChannels': 3, 'mean': imagenet[0], 'std': imagenet[1]}
        write(name, model, 'torchvision-resnet', config)
        if depth == 18:
            write_io(f'{name}-32', name, 'torchvision-resnet', config, io_case(model, *imagenet, images(4, 32, 32), labels(4), train=True))
            write_io(f'{name}-45x61', name, 'torchvision-resnet', config, io_case(model, *imagenet, images(2, 45, 61), labels(2)))
            write_io(f'{name}-224', name, 'torchvision-resnet', config, io_case(model, *imagenet, images(1, 224, 224), labels(1), grad_stride=7))
        else:
            write_io(f'{name}-64', name, 'torchvision-resnet', config, io_case(model, *imagenet, images(2, 64, 64), labels(2), train=True))

    for depth, widen, sub in ((10, 2, False), (16, 1, True)):
        name = f'wrn-{depth}-{widen}'
        model = WideResNet(depth, widen, 10, sub)
        randomise(model, *zero_one, (32, 32), gen)
        to_half_values(model)
        config = {'depth': depth, 'widen': widen, 'classes': 10, 'inputChannels': 3, 'mean': zero_one[0], 'std': zero_one[1], 'dropRate': 0, 'subBlock1': sub}
        write(name, model, 'wide-resnet', config, half=True)
        write_io(f'{name}-32', name, 'wide-resnet', config, io_case(model, *zero_one, images(4, 32, 32), labels(4), train=True))

    for f in sorted(os.listdir(a.out)):
        print(f'{f:32s} {os.path.getsize(os.path.join(a.out, f)):>9,d} bytes')


if __name__ == '__main__':
    main()
