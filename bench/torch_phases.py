"""Where PyTorch's Lipschitz training step spends its time (issue 17, profile first), beside bench/ts_phases.ts.

Usage: /usr/bin/python3 bench/torch_phases.py [--threads N] [--batch B] [--iters I] [--warmup W] [--profile-steps P]

Same shape and phases as the TypeScript side (pre-activation ResNet-44, half-Huber, batch 64, train mode, psi 220):
forward (z, L_cls, s), grad-graph (G = d(sum s)/dx with create_graph), second (L and its backward to the weights),
sgd. Then torch.autograd.profiler over --profile-steps steps: self CPU time per op, grouped into convolution,
batch norm (forward, backward, double backward), activation, other elementwise, reductions, allocation and the
rest (self time), and the inclusive time of the autograd nodes. Prints one JSON line: median ms per phase, and the op groups' shares with the top ops.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import resnet44  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=1)
p.add_argument('--batch', type=int, default=64)
p.add_argument('--iters', type=int, default=6)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--profile-steps', type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = resnet44(True).train()
x = torch.rand(a.batch, 3, 32, 32)
y = torch.randint(0, 10, (a.batch,))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
PHASES = ['forward', 'grad-graph', 'second', 'sgd']
times = {k: [] for k in PHASES}


def step(record):
    t = [time.perf_counter()]
    xg = x.detach().requires_grad_(True)
    z = model(xg)
    loss_cls = F.cross_entropy(z, y)
    k = torch.randint(0, 10, (a.batch,))
    unfair = torch.rand(a.batch) < 0.2
    chosen = z.gather(1, k.view(-1, 1)).squeeze(1)
    true = z.gather(1, y.view(-1, 1)).squeeze(1)
    others = z.masked_fill(F.one_hot(y, 10).bool(), float('-inf'))
    s = torch.where(unfair, true - others.max(dim=1).values, chosen).sum()
    t.append(time.perf_counter())
    (g,) = torch.autograd.grad(s, xg, create_graph=True)
    t.append(time.perf_counter())
    loss = loss_cls + 220.0 * g.pow(2).mean()
    opt.zero_grad()
    loss.backward()
    t.append(time.perf_counter())
    opt.step()
    t.append(time.perf_counter())
    if record:
        for i, ph in enumerate(PHASES):
            times[ph].append((t[i + 1] - t[i]) * 1000)


for _ in range(a.warmup):
    step(False)
for _ in range(a.iters):
    step(True)

GROUPS = [
    ('batch norm double backward', ('NativeBatchNormBackwardBackward', 'batch_norm_backward_backward')),
    ('batch norm', ('batch_norm', 'BatchNorm')),
    ('convolution', ('conv', 'Conv', 'mkldnn')),
    ('activation (half-Huber: clamp, where, compare)', ('clamp', 'where', 'ge', 'le', 'gt', 'lt', 'Clamp', 'Where')),
    ('other elementwise', ('mul', 'add', 'sub', 'div', 'pow', 'neg', 'Mul', 'Add', 'Sub', 'Div', 'Pow', 'Neg', 'copy_', 'fill_', 'zero_')),
    ('reductions', ('sum', 'mean', 'max', 'Sum', 'Mean', 'Max', 'softmax', 'log_softmax', 'nll')),
    ('allocation', ('empty', 'zeros', 'ones', 'resize_', 'as_strided')),
]


def group_of(name):
    for g, keys in GROUPS:
        if any(k in name for k in keys):
            return g
    return 'other'


with torch.autograd.profiler.profile() as prof:
    for _ in range(a.profile_steps):
        step(False)
total = 0.0
by_group = {}
ops = []
for e in prof.key_averages():
    us = e.self_cpu_time_total
    total += us
    by_group[group_of(e.key)] = by_group.get(group_of(e.key), 0.0) + us
    ops.append((us, e.key, e.count))
ops.sort(reverse=True)
# Autograd nodes (…Backward0) run their math as child ops, so self time files it under those ops: their inclusive
# time says which backward formula it came from (e.g. batch norm's double backward, a composite of muls and adds).
nodes = sorted(((e.cpu_time_total, e.key) for e in prof.key_averages() if e.key.endswith('Backward0') and not e.key.startswith('autograd::')), reverse=True)
print(json.dumps({
    'autograd_nodes_inclusive_share': {k: round(us / total, 3) for us, k in nodes[:8]},
    'side': 'pytorch', 'threads': torch.get_num_threads(), 'batch': a.batch,
    'median_ms': {k: round(statistics.median(v), 1) for k, v in times.items()},
    'op_groups_share': {g: round(v / total, 3) for g, v in sorted(by_group.items(), key=lambda kv: -kv[1])},
    'top_ops': [{'op': k, 'share': round(us / total, 3), 'calls_per_step': c // a.profile_steps} for us, k, c in ops[:15]],
}))
