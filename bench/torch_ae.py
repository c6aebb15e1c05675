"""PyTorch side of the adversarial-explanation benchmark (advexp's side: bench/ts_ae.ts, same CLI, same JSON line).

One image (record --record of data_batch_5.bin), 12 adversarial explanations as one batch: the true class, the most
confident wrong class and each of the 10 classes (METHOD.md section 5: encourage, budget mode, rho 0.1, 35 steps,
overshoot 5, no momentum), on a published ResNet-44 in eval mode; each iteration also computes the targets'
probabilities before and after, as advexp's explainer does. The routine is bench/torch_attack.py's paper_attack.

Usage:
  /usr/bin/python3 bench/torch_ae.py [--workload ae] [--threads N] [--iters I] [--warmup W] [--model FILE]
      [--record 5000] [--tune-malloc]
Prints one JSON line: {"workload": "ae", "threads", "batch": 12, "img_per_s", "sec_per_iter", "cpu_sec_per_iter"};
img_per_s counts explanations (12 per iteration); CPU seconds are a steadier measure on a loaded machine.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import load_reference, read_cifar_records  # noqa: E402
from torch_attack import paper_attack  # noqa: E402
from torch_bench import setup, timed  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--workload', default='ae', choices=['ae'])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--iters', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--model', default=os.path.join(SHARED, 'models', 'reference', 'resnet44-robust.safetensors'))
    ap.add_argument('--record', type=int, default=5000)
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    setup(a.threads, a.tune_malloc)
    model, _ = load_reference(a.model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x, y = read_cifar_records(os.path.join(SHARED, 'data', 'cifar10', 'data_batch_5.bin'), a.record, 1)

    def step():
        with torch.no_grad():
            p = model(x).softmax(1)[0]
        label = int(y[0])
        masked = p.clone()
        masked[label] = -1
        targets = torch.tensor([label, int(masked.argmax())] + list(range(10)))
        xs = x.expand(12, -1, -1, -1).contiguous()
        with torch.no_grad():
            before = model(xs).softmax(1).gather(1, targets.view(-1, 1))
        adv, delta, _ = paper_attack(model, xs, targets, 0.1, 35, overshoot=5.0, momentum=0.0, mode='budget',
                                     encourage=True, guard=False)
        with torch.no_grad():
            after = model(adv).softmax(1).gather(1, targets.view(-1, 1))
        return before, after, delta.abs().sum(1)

    dt, cpu = timed(step, a.warmup, a.iters, a.threads)
    print(json.dumps({'workload': 'ae', 'threads': torch.get_num_threads(), 'batch': 12, 'img_per_s': 12 / dt,
                      'sec_per_iter': dt, 'cpu_sec_per_iter': cpu}), flush=True)


if __name__ == '__main__':
    main()
