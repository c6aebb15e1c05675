"""Does channels-last (NHWC) make the Lipschitz step faster on this CPU? (issue 17: the convolutions are over half
of advexp's fused step.) PyTorch 1.13, the same oneDNN as advexp's libtorch, 1 thread.

  /usr/bin/python3 bench/torch_channels_last.py [--rounds 3] [--batch 64]
Part 1: the whole Lipschitz step (pre-activation ResNet-44, half-Huber, ψ 220, SGD) in NCHW and NHWC, alternating
rounds, best of each. Part 2: one 3×3 convolution of each stage's shape through what the step asks of it (forward,
input gradient with create_graph, the second backward to the weights), best of 5.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import resnet44, lipschitz_loss  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--rounds', type=int, default=3)
p.add_argument('--batch', type=int, default=64)
a = p.parse_args()
torch.set_num_threads(1)
B = a.batch
best = {}
for rnd in range(a.rounds):
    for fmt in ['nchw', 'nhwc']:
        torch.manual_seed(0)
        m = resnet44(half_huber=True).train()
        x = torch.rand(B, 3, 32, 32)
        y = torch.randint(0, 10, (B,))
        if fmt == 'nhwc':
            m = m.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            lipschitz_loss(m, x.clone(), y, 220.0)[0].backward()
            opt.step()
        step()
        t = time.perf_counter()
        step()
        step()
        ips = 2 * B / (time.perf_counter() - t)
        best[fmt] = max(best.get(fmt, 0), ips)
        print(f'step round {rnd} {fmt}: {ips:.1f} img/s', flush=True)
print(f'step best: NCHW {best["nchw"]:.1f} img/s, NHWC {best["nhwc"]:.1f} img/s, NHWC/NCHW {best["nhwc"] / best["nchw"]:.2f}')

for C, H in [(16, 32), (32, 16), (64, 8)]:
    ms = {}
    for fmt in ['nchw', 'nhwc']:
        x = torch.rand(B, C, H, H)
        w = torch.randn(C, C, 3, 3) * 0.1
        if fmt == 'nhwc':
            x = x.contiguous(memory_format=torch.channels_last)
            w = w.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        w.requires_grad_(True)

        def run():
            (gx,) = torch.autograd.grad(F.conv2d(x, w, padding=1).pow(2).sum(), x, create_graph=True)
            torch.autograd.grad(gx.pow(2).sum(), w)
        run()
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            run()
            ts.append(time.perf_counter() - t)
        ms[fmt] = 1000 * min(ts)
    print(f'conv {C}ch {H}x{H} batch {B}: NCHW {ms["nchw"]:.1f} ms, NHWC {ms["nhwc"]:.1f} ms, NHWC/NCHW time {ms["nhwc"] / ms["nchw"]:.2f}')
