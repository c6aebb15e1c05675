"""PyTorch side of the training-loop benchmark (npm run bench, workload `epoch`): the same work as bench/ts_epoch.ts.

  /usr/bin/python3 bench/torch_epoch.py [--threads N] [--images 45000] [--depth 20] [--bare-iters 4] [--tune-malloc]

One epoch of Lipschitz training as METHOD.md section 3 (half-Huber pre-activation ResNet, batch 128, SGD 0.1 /
momentum 0.9 / wd 1e-4, adaptive psi, edge-replicated pad-4 random crop and flip done on whole batches) on the first
--images records of data_batch_1..5, read from the binary files; the epoch ends with torch.save of the weights and
optimizer state. The bare step (one fixed batch) on the same shape runs --bare-iters times before and after the
epoch, timed per step; overheads are against its median, as in bench/ts_epoch.ts. Prints one JSON line:
{"workload", "threads", "depth", "images", "steps", "seconds", "img_per_s", "bare_img_per_s", "loop_overhead",
"step_overhead", "bare_ms", "loop_ms_median"}.
"""
import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import ResNet, lipschitz_loss  # noqa: E402
from torch_bench import setup  # noqa: E402

SHARED = os.environ.get('ADVEXP_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
REC = 3073


def load_records(n):
    chunks, left = [], n
    for i in range(1, 6):
        if left <= 0:
            break
        with open(os.path.join(SHARED, 'data', 'cifar10', f'data_batch_{i}.bin'), 'rb') as f:
            raw = f.read(min(left, 10000) * REC)
        t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, REC)
        chunks.append(t)
        left -= t.shape[0]
    t = torch.cat(chunks)
    return t[:, 1:].reshape(-1, 3, 32, 32).contiguous(), t[:, 0].long()


def augment(x, gen, pad=4):
    """Edge-replicated pad + random crop + flip as two clamped gathers (no padded copy)."""
    b, c, h, w = x.shape
    dy = torch.randint(-pad, pad + 1, (b,), generator=gen)
    dx = torch.randint(-pad, pad + 1, (b,), generator=gen)
    flip = torch.rand(b, generator=gen) < 0.5
    rows = (torch.arange(h).view(1, h) + dy.view(b, 1)).clamp(0, h - 1)
    cols = torch.where(flip.view(b, 1), torch.arange(w - 1, -1, -1).view(1, w), torch.arange(w).view(1, w))
    cols = (cols + dx.view(b, 1)).clamp(0, w - 1)
    x = x.gather(2, rows.view(b, 1, h, 1).expand(b, c, h, w))
    return x.gather(3, cols.view(b, 1, 1, w).expand(b, c, h, w))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--images', type=int, default=45000)
    ap.add_argument('--depth', type=int, default=20)
    ap.add_argument('--bare-iters', type=int, default=4)
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    setup(a.threads, a.tune_malloc)
    n_blocks = (a.depth - 2) // 6

    torch.manual_seed(0)
    m2 = ResNet(n_blocks, half_huber=True).train()
    opt2 = torch.optim.SGD(m2.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    xb, yb = torch.rand(128, 3, 32, 32), torch.randint(0, 10, (128,))
    bare_ms = []

    def bare(n):
        for _ in range(n):
            t = time.perf_counter()
            loss, _, _ = lipschitz_loss(m2, xb, yb, 220.0)
            opt2.zero_grad()
            loss.backward()
            opt2.step()
            bare_ms.append((time.perf_counter() - t) * 1000)
    bare(1)
    bare_ms.clear()
    bare(a.bare_iters)

    t0 = time.perf_counter()
    last = t0
    loop_ms = []
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x_all, y_all = load_records(a.images)
    model = ResNet(n_blocks, half_huber=True).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    r, steps = 0.0, 0
    order = torch.randperm(x_all.shape[0], generator=gen)
    for i in range(0, x_all.shape[0], 128):
        idx = order[i:i + 128]
        if idx.numel() < 2:
            break
        x = augment(x_all[idx].float().div_(255.0), gen)
        y = y_all[idx]
        # Adaptive psi (METHOD.md section 3): the integrator is updated from this batch's CE before psi is used.
        _, loss_cls, loss_adv = lipschitz_loss(model, x, y, 1.0, generator=gen)
        r = max(0.0, r + min(1.0, max(-0.01, -math.log(loss_cls.item() / 1.5))))
        loss = loss_cls + 220.0 * math.exp(0.02 * r) * loss_adv
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not math.isfinite(loss.item()):
            raise RuntimeError('non-finite loss')
        steps += 1
        t = time.perf_counter()
        loop_ms.append((t - last) * 1000)
        last = t
    with tempfile.TemporaryDirectory() as d:
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'r': r}, os.path.join(d, 'ckpt.pt'))
    seconds = time.perf_counter() - t0
    bare(a.bare_iters)
    bare_step = statistics.median(bare_ms)
    loop_step = statistics.median(loop_ms)
    print(json.dumps({'workload': 'epoch', 'threads': torch.get_num_threads(), 'depth': a.depth, 'images': a.images,
                      'steps': steps, 'seconds': seconds, 'img_per_s': a.images / seconds,
                      'bare_img_per_s': 128000 / bare_step, 'loop_overhead': seconds * 1000 / steps / bare_step - 1,
                      'step_overhead': loop_step / bare_step - 1,
                      'bare_ms': [round(v) for v in bare_ms], 'loop_ms_median': round(loop_step)}))


if __name__ == '__main__':
    main()
