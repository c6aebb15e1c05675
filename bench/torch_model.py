"""PyTorch reference of the paper's pre-activation ResNet-44 (Woods, Chen & Teuscher 2019).

Used by bench/torch_bench.py as the PyTorch side of the speed comparison. The layout follows
shared/docs/METHOD.md sections 1-3 and the state-dict names of shared/models/reference/README.md, so the
four published networks load with strict=True.

Run directly (`/usr/bin/python3 bench/torch_model.py`) to check this model against
shared/models/reference/golden.json (eval logits and the train-mode Lipschitz loss).
"""
import json
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.247, 0.243, 0.261)


class HalfHuberReLU(nn.Module):
    """f(x) = 0 (x<=0), x^2/(2d) (0<x<=d), x - d/2 (x>d); written as composed ops so that
    autograd provides the second derivative (1/d on (0, d)) needed by double backprop."""

    def __init__(self, d=0.5):
        super().__init__()
        self.register_buffer('d', torch.tensor([float(d)]))

    def forward(self, x):
        d = float(self.d)  # python scalar: clamp/sub/div with scalars keep the autograd graph lean
        c = torch.clamp(x, 0.0, d)
        return c * c / (2.0 * d) + torch.relu(x - d)


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm2d (eps 1e-5, momentum 0.1, affine) without the `num_batches_tracked` buffer,
    which the reference checkpoints do not contain (only used when momentum is None)."""

    def __init__(self, c):
        super().__init__(c, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)
        self.num_batches_tracked = None  # drop the buffer from the state dict

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Skip _NormBase's num_batches_tracked back-fill; behave like a plain module.
        nn.Module._load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                                        missing_keys, unexpected_keys, error_msgs)


def make_act(half_huber):
    return HalfHuberReLU(0.5) if half_huber else nn.ReLU()


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, half_huber):
        super().__init__()
        self.pre = nn.Sequential(BatchNorm(cin), make_act(half_huber))
        self.main = nn.Sequential(conv3x3(cin, cout, stride), BatchNorm(cout), make_act(half_huber),
                                  conv3x3(cout, cout, 1))
        self.shortcut = conv3x3(cin, cout, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        pre = self.pre(x)
        h = self.main(pre)
        sc = x if self.shortcut is None else self.shortcut(pre)
        return h + sc


class ResNet(nn.Module):
    """Pre-activation ResNet (depth 6n+2); n=7, widths (16, 32, 64) is ResNet-44 (681,626 parameters)."""

    def __init__(self, n=7, widths=(16, 32, 64), num_classes=10, half_huber=False,
                 input_offset=(CIFAR_MEAN, CIFAR_STD)):
        super().__init__()
        self.register_buffer('input_offset', torch.tensor(input_offset, dtype=torch.float32))
        stages = []
        cin = widths[0]
        for si, w in enumerate(widths):
            blocks = []
            for bi in range(n):
                stride = 2 if (si > 0 and bi == 0) else 1
                blocks.append(Block(cin, w, stride, half_huber))
                cin = w
            stages.append(nn.Sequential(*blocks))
        self.pipe = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),  # 0 stem
            stages[0], stages[1], stages[2],                     # 1, 2, 3
            BatchNorm(cin),                                      # 4
            make_act(half_huber),                                # 5
            nn.AdaptiveAvgPool2d(1),                             # 6
            nn.Conv2d(cin, num_classes, 1, bias=True),           # 7 classifier
        )
        self.reset_parameters()

    def reset_parameters(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=0.0)  # U(+-sqrt(6/fan_in))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, Block):
                nn.init.zeros_(m.main[3].weight)  # each block starts as its shortcut

    def forward(self, x):
        off = self.input_offset
        x = (x - off[0].view(1, -1, 1, 1)) / off[1].view(1, -1, 1, 1)
        return self.pipe(x).flatten(1)


def resnet44(half_huber=False):
    return ResNet(7, (16, 32, 64), 10, half_huber)


def lipschitz_loss(model, x, y, psi, k=None, unfair=None, zeta=0.2, generator=None):
    """Paper's Lipschitz-inspired loss: L = CE + psi * mean(G^2), G = d(sum_b s_b)/dx kept differentiable.
    s_b = z_b[k_b] (uniform random k_b), or with probability zeta the margin z_b[y_b] - max_{j!=y_b} z_b[j].
    Returns (loss, loss_cls, loss_adv)."""
    B = x.shape[0]
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    z = model(x)
    K = z.shape[1]
    loss_cls = F.cross_entropy(z, y)
    if k is None:
        k = torch.randint(0, K, (B,), generator=generator)
    if unfair is None:
        unfair = torch.rand(B, generator=generator) < zeta
    k = torch.as_tensor(k, dtype=torch.long)
    unfair = torch.as_tensor(unfair, dtype=torch.bool)
    chosen = z.gather(1, k.view(-1, 1)).squeeze(1)
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    others = z.masked_fill(F.one_hot(y, K).bool(), float('-inf'))
    margin = true - others.max(dim=1).values
    s = torch.where(unfair, margin, chosen)
    (G,) = torch.autograd.grad(s.sum(), x, create_graph=True)
    loss_adv = psi * G.pow(2).mean()
    return loss_cls + loss_adv, loss_cls, loss_adv


# ----------------------------------------------------------------------------- loading helpers

_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'F16': torch.float16, 'I64': torch.int64,
           'I32': torch.int32}


def load_safetensors(path):
    """Minimal safetensors reader (8-byte LE header length, JSON header, raw LE data)."""
    with open(path, 'rb') as f:
        buf = f.read()
    (n,) = struct.unpack('<Q', buf[:8])
    header = json.loads(buf[8:8 + n].decode('utf-8'))
    base = 8 + n
    meta = header.pop('__metadata__', {})
    out = {}
    for name, info in header.items():
        a, b = info['data_offsets']
        dt = _DTYPES[info['dtype']]
        if b > a:
            t = torch.frombuffer(bytearray(buf[base + a:base + b]), dtype=dt)
        else:
            t = torch.empty(0, dtype=dt)
        out[name] = t.reshape(info['shape']).clone()
    return out, meta


def load_reference(path):
    sd, meta = load_safetensors(path)
    half_huber = any(k.endswith('.d') for k in sd)
    model = resnet44(half_huber)
    model.load_state_dict(sd, strict=True)
    return model, meta


def read_cifar_records(path, start, count):
    rec = 3073
    with open(path, 'rb') as f:
        f.seek(start * rec)
        raw = f.read(count * rec)
    t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(count, rec)
    y = t[:, 0].long()
    x = t[:, 1:].float().div(255.0).view(count, 3, 32, 32)
    return x, y


# ----------------------------------------------------------------------------- golden check

def _max_rel(a, b):
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def _golden_check(root):
    ref = os.path.join(root, 'models', 'reference')
    golden = json.load(open(os.path.join(ref, 'golden.json')))
    x16, y16 = read_cifar_records(os.path.join(root, 'data', 'cifar10', 'data_batch_1.bin'), 0, 16)
    assert y16.tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9, 9], y16.tolist()
    gx = torch.zeros(1, 3, 32, 32)
    ar = torch.arange(32, dtype=torch.float32)
    gx[0, 0] = (ar / 31).view(1, 32).expand(32, 32)
    gx[0, 1] = (ar / 31).view(32, 1).expand(32, 32)
    gx[0, 2] = (ar.view(1, 32) + ar.view(32, 1)) / 62
    cx = torch.full((1, 3, 32, 32), 0.5)
    ok = True
    tol_logits, tol_loss = 1e-4, 1e-3
    order = ['resnet44-robust'] + [n for n in golden['nets'] if n != 'resnet44-robust']
    for name in order:
        g = golden['nets'][name]
        model, _ = load_reference(os.path.join(ref, name + '.safetensors'))
        nparam = sum(p.numel() for p in model.parameters())
        model.eval()
        with torch.no_grad():
            e16 = _max_rel(model(x16), g['logits_train16'])
            eg = _max_rel(model(gx), g['logits_gradient_image'])
            ec = _max_rel(model(cx), g['logits_constant_image'])
        # eval-mode input gradient of summed CE, first 4 images
        xi = x16[:4].clone().requires_grad_(True)
        (gi,) = torch.autograd.grad(F.cross_entropy(model(xi), y16[:4], reduction='sum'), xi)
        ig = g['eval_input_grad_ce_sum_first4']
        e_ig = max(_max_rel(gi.abs().sum(), ig['sum_abs']),
                   _max_rel(gi[0, 0, 0, :10], ig['first10_of_image0_channel0_row0']))
        # train-mode Lipschitz loss with the fixed per-sample choices
        t = g['train_regularised_batch16']
        model.train()
        model.zero_grad()
        loss, lc, la = lipschitz_loss(model, x16.clone(), y16, t['psi'], k=t['k'],
                                      unfair=[bool(u) for u in t['unfair']])
        loss.backward()
        e_loss = _max_rel(loss.item(), t['loss'])
        e_lc = _max_rel(lc.item(), t['loss_cls'])
        e_la = _max_rel(la.item(), t['loss_adv'])
        gl2 = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())).item()
        e_g = max(_max_rel(gl2, t['grad_global_l2']),
                  _max_rel(model.pipe[7].bias.grad, t['grad_pipe.7.bias']))
        good = (e16 < tol_logits and eg < tol_logits and ec < tol_logits and e_ig < 1e-3
                and e_loss < tol_loss and e_g < 1e-2 and nparam == 681626)
        ok &= good
        print(f'{name:20s} params={nparam} strict-load=ok '
              f'logits_train16 maxrel={e16:.2e} grad_img={eg:.2e} const_img={ec:.2e} '
              f'input_grad={e_ig:.2e} | loss={loss.item():.7g} (golden {t["loss"]:.7g}) maxrel={e_loss:.2e} '
              f'cls={e_lc:.2e} adv={e_la:.2e} weight_grad={e_g:.2e} -> {"OK" if good else "FAIL"}')
    # half-Huber golden values (METHOD.md section 2)
    hh = HalfHuberReLU(0.5)
    xs = torch.tensor([-1, -0.1, 0, 0.1, 0.25, 0.5, 0.75, 1, 2])
    e_hh = (hh(xs) - torch.tensor([0, 0, 0, 0.01, 0.0625, 0.25, 0.5, 0.75, 1.75])).abs().max().item()
    print(f'half-Huber golden max abs err {e_hh:.1e}')
    ok &= e_hh < 1e-6
    print('GOLDEN CHECK', 'PASSED' if ok else 'FAILED')
    return ok


if __name__ == '__main__':
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.environ.get('ADVEXP_SHARED', os.path.join(here, '..', '..', 'shared'))
    if not os.path.isdir(root):
        root = '/work/shared'
    sys.exit(0 if _golden_check(root) else 1)
