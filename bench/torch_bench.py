"""PyTorch (CPU) reference timings for the ResNet-44 workloads of the advexp benchmark.

Usage:
  /usr/bin/python3 bench/torch_bench.py --workload {plain,lipschitz,infer,attack,r50-infer,r50-attack} \
      --threads N [--batch B] [--iters I] [--warmup W] [--seed S]

  --tune-malloc   raise glibc's mmap/trim thresholds in-process (mallopt) so large activation buffers are
                  reused instead of being mmap'ed and page-faulted on every op; equivalent to running with
                  MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=134217728 in the environment. Off by
                  default; for a fair comparison apply the same setting (env vars) to the libtorch/TS side.

Prints one JSON line: {"workload","threads","batch","img_per_s","sec_per_iter"}.

Workloads (pre-activation ResNet-44, random inputs in [0,1], random labels, fixed seed):
  plain      ReLU net, train mode, SGD(lr 0.1, momentum 0.9, wd 1e-4): forward, CE, zero_grad, backward, step (batch 128)
  lipschitz  half-Huber net, train mode, L = CE + 220 * mean(G^2) with double backprop, same SGD step (batch 128)
  infer      ReLU net, eval mode, torch.no_grad forward (batch 256)
  attack     half-Huber net, eval mode, gradient of summed CE w.r.t. the input only (batch 128)
  r50-infer  torchvision resnet50 (random weights, ImageNet normalisation first), 224x224, eval, no_grad (batch 32)
  r50-attack the same, gradient of summed CE w.r.t. the input only (batch 16)
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import resnet44, lipschitz_loss  # noqa: E402

DEFAULT_BATCH = {'plain': 128, 'lipschitz': 128, 'infer': 256, 'attack': 128, 'r50-infer': 32, 'r50-attack': 16}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PSI = 220.0


def build_r50(workload, batch, seed):
    """torchvision's ResNet-50 as advexp's TorchvisionResNet runs it: (x - mean)/std, then the network."""
    import torchvision
    torch.manual_seed(seed)
    net = torchvision.models.resnet50().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(batch, 3, 224, 224, generator=gen)
    y = torch.randint(0, 1000, (batch,), generator=gen)

    def model(v):
        return net((v - mean) / std)
    if workload == 'r50-infer':
        def step():
            with torch.no_grad():
                model(x)
    else:
        def step():
            xa = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction='sum'), xa)
            return g
    return step


def build(workload, batch, seed):
    if workload.startswith('r50-'):
        return build_r50(workload, batch, seed)
    torch.manual_seed(seed)
    half_huber = workload in ('lipschitz', 'attack')
    model = resnet44(half_huber)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)

    if workload in ('plain', 'lipschitz'):
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        if workload == 'plain':
            def step():
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        else:
            def step():
                loss, _, _ = lipschitz_loss(model, x, y, PSI, generator=gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
    elif workload == 'infer':
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    elif workload == 'attack':
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)

        def step():
            xa = x.detach().requires_grad_(True)
            loss = F.cross_entropy(model(xa), y, reduction='sum')
            (g,) = torch.autograd.grad(loss, xa)
            return g
    else:
        raise ValueError(workload)
    return step


def tune_malloc(mmap_threshold=64 << 20, trim_threshold=128 << 20):
    """glibc only: M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3. Returns True on success."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
        return bool(libc.mallopt(-3, mmap_threshold)) and bool(libc.mallopt(-1, trim_threshold))
    except Exception:
        return False


def setup(threads, malloc_tuned):
    """The environment every PyTorch side of the benchmark runs in: the thread count (one inter-op thread) and,
    when asked, the same glibc thresholds the advexp addon sets."""
    if malloc_tuned and not tune_malloc():
        print('tune-malloc: mallopt unavailable', file=sys.stderr)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except Exception as e:  # pragma: no cover (fails if already set / parallel work started)
        print(f'set_num_interop_threads failed: {e}', file=sys.stderr)


def timed(step, warmup, iters, threads):
    """Runs step warmup times, then iters times; returns (wall seconds, CPU seconds) per iteration."""
    for _ in range(warmup):
        step()
    iters = max(1, iters)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(iters):
        step()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Contention diagnostic (stderr only): with N busy threads, process CPU time should be ~N x wall time.
    util = cpu / (wall * max(1, threads))
    print(f'cpu/wall per thread = {util:.2f}' + ('  (WARNING: CPU contention likely)' if util < 0.8 else ''),
          file=sys.stderr)
    return wall / iters, cpu / iters


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workload', required=True, choices=sorted(DEFAULT_BATCH))
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    setup(a.threads, a.tune_malloc)
    batch = a.batch or DEFAULT_BATCH[a.workload]
    step = build(a.workload, batch, a.seed)
    dt, _ = timed(step, a.warmup, a.iters, a.threads)
    print(json.dumps({'workload': a.workload, 'threads': torch.get_num_threads(), 'batch': batch,
                      'img_per_s': batch / dt, 'sec_per_iter': dt}), flush=True)


if __name__ == '__main__':
    main()
