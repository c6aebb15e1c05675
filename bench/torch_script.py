"""PyTorch side of the TorchScript rows (issue 12): the published robust ResNet-44 exported with torch.jit.script
(test/fixtures/torchscript/robust_script.pt, written by bench/make_script_fixtures.py), run with torch.jit.load.

  /usr/bin/python3 bench/torch_script.py --workload {infer,attack} --threads N [--batch B] [--iters I] [--warmup W]
      [--model FILE] [--tune-malloc]

Prints one JSON line: {"workload","threads","batch","img_per_s","sec_per_iter"} (same as bench/ts_script.ts).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import setup, timed  # noqa: E402  (same thread and malloc set-up as the other rows)

DEFAULT_BATCH = {'infer': 256, 'attack': 128}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workload', required=True, choices=sorted(DEFAULT_BATCH))
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--batch', type=int, default=None)
    ap.add_argument('--iters', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--model', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test',
                                                    'fixtures', 'torchscript', 'robust_script.pt'))
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    setup(a.threads, a.tune_malloc)
    batch = a.batch or DEFAULT_BATCH[a.workload]
    torch.manual_seed(a.seed)
    model = torch.jit.load(a.model).eval()
    x = torch.rand(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    if a.workload == 'infer':
        def step():
            with torch.no_grad():
                model(x)
    else:
        for p in model.parameters():
            p.requires_grad_(False)

        def step():
            xa = x.detach().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xa), y, reduction='sum'), [xa])
    dt, cpu = timed(step, a.warmup, a.iters, a.threads)
    print(json.dumps({'workload': 'script-' + a.workload, 'threads': torch.get_num_threads(), 'batch': batch,
                      'img_per_s': batch / dt, 'sec_per_iter': dt, 'cpu_per_iter': cpu}), flush=True)


if __name__ == '__main__':
    main()
