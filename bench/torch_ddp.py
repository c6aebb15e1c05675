"""PyTorch side of the data-parallel training benchmark (bench/dist.ts): DDP (gloo) over --world local processes.

  /usr/bin/python3 bench/torch_ddp.py [--world 2] [--threads 1] [--images 1280] [--depth 20] [--port 29571]

One epoch of Lipschitz training (METHOD.md section 3, as bench/torch_epoch.py) on the first --images records of
data_batch_1..5, global batch 128 split among the ranks, the global L_cls allreduced before psi is stepped (as
advexp does); world 1 is the plain one-process loop. Prints one JSON line from rank 0:
{"workload": "ddp", "world", "threads", "images", "steps", "seconds", "img_per_s"}.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import ResNet, lipschitz_loss  # noqa: E402
from torch_bench import setup  # noqa: E402
from torch_epoch import load_records, augment  # noqa: E402


def worker(rank, a):
    setup(a.threads, True)
    if a.world > 1:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(a.port))
        dist.init_process_group('gloo', rank=rank, world_size=a.world)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1000 + rank)
    x_all, y_all = load_records(a.images)
    model = ResNet((a.depth - 2) // 6, half_huber=True).train()
    net = torch.nn.parallel.DistributedDataParallel(model) if a.world > 1 else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    order = torch.randperm(x_all.shape[0], generator=torch.Generator().manual_seed(0))
    r, steps = 0.0, 0
    if a.world > 1:
        dist.barrier()
    t0 = time.perf_counter()
    for i in range(0, x_all.shape[0], 128):
        idx = order[i:i + 128]
        if idx.numel() < 2 * a.world:
            break
        idx = idx.chunk(a.world)[rank]
        x = augment(x_all[idx].float().div_(255.0), gen)
        _, loss_cls, loss_adv = lipschitz_loss(net, x, y_all[idx], 1.0, generator=gen)
        g = loss_cls.detach().clone()
        if a.world > 1:
            dist.all_reduce(g)
            g /= a.world
        r = max(0.0, r + min(1.0, max(-0.01, -math.log(g.item() / 1.5))))
        loss = loss_cls + 220.0 * math.exp(0.02 * r) * loss_adv
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    seconds = time.perf_counter() - t0
    if rank == 0:
        n = min(x_all.shape[0], steps * 128)
        print(json.dumps({'workload': 'ddp', 'world': a.world, 'threads': a.threads, 'images': n, 'steps': steps,
                          'seconds': seconds, 'img_per_s': n / seconds}), flush=True)
    if a.world > 1:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--world', type=int, default=2)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--images', type=int, default=1280)
    ap.add_argument('--depth', type=int, default=20)
    ap.add_argument('--port', type=int, default=29571)
    a = ap.parse_args()
    if a.world == 1:
        worker(0, a)
    else:
        mp.spawn(worker, args=(a,), nprocs=a.world, join=True)


if __name__ == '__main__':
    main()
