"""PyTorch side of the ARA benchmark (npm run bench, workload `ara`): the same work as bench/ts_ara.ts.

  /usr/bin/python3 bench/torch_ara.py [--threads N] [--n 1000] [--steps 450] [--types attack,btr] [--batch 128]
      [--model FILE] [--offset 5000] [--tune-malloc]

Attack and BTR distances of n records of data_batch_5 (file order from --offset) on a published ResNet-44 (default
the robust net), with the routine of bench/torch_attack.py (METHOD.md sections 4 and 6, reference pooling).
Prints one JSON line: {"workload", "threads", "n", "steps", "types", "seconds", "img_per_s", "ara", "distances"};
img_per_s counts (image, type) pairs.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import read_cifar_records  # noqa: E402
from torch_attack import load_attacked_model, minimal_distances, ara_exact  # noqa: E402
from torch_bench import setup  # noqa: E402

SHARED = os.environ.get('ADVEXP_SHARED', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--n', type=int, default=1000)
    ap.add_argument('--steps', type=int, default=450)
    ap.add_argument('--types', default='attack,btr')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--model', default=os.path.join(SHARED, 'models', 'reference', 'resnet44-robust.safetensors'))
    ap.add_argument('--offset', type=int, default=5000)
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    setup(a.threads, a.tune_malloc)
    model = load_attacked_model(a.model)
    x_all, y_all = read_cifar_records(os.path.join(SHARED, 'data', 'cifar10', 'data_batch_5.bin'), a.offset, a.n)
    types = a.types.split(',')
    t0 = time.time()
    distances, ara = {}, {}
    for t in types:
        distances[t] = minimal_distances(model, x_all, y_all, t, a.steps, 20.0, 0.9, a.batch)
        ara[t] = ara_exact(distances[t])
    seconds = time.time() - t0
    print(json.dumps({'workload': 'ara', 'threads': torch.get_num_threads(), 'n': a.n, 'steps': a.steps, 'types': types,
                      'seconds': seconds, 'img_per_s': a.n * len(types) / seconds, 'ara': ara, 'distances': distances}))


if __name__ == '__main__':
    main()
