"""advexp's AutoAttack against the authors' own code, per image (issue 14's cross-check).

Runs the original AutoAttack (Croce & Hein, github.com/fra31/auto-attack; not part of advexp: pass its checkout
with --autoattack-src) in its standard version, seed 0, on CPU, on records 5000+OFFSET… of data_batch_5.bin
against a published ResNet-44, and compares each image's robust flag with the table's row written by
bench/aa_table.ts (bench/aa-table/NET-aa-NORM.json), which holds advexp's flags for the same records.

  /usr/bin/python3 bench/torch_autoattack_ref.py --autoattack-src /path/to/auto-attack --net robust \
      --norm linf --n 16 [--threads 1] [--out bench/aa-table/reference-robust-linf.json]
Prints one JSON line: both robust accuracies, the images where the two disagree, seconds.
"""
import argparse
import json
import os
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from torch_model import load_reference, read_cifar_records  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument('--autoattack-src', required=True)
p.add_argument('--net', default='robust')
p.add_argument('--norm', choices=['linf', 'l2'], default='linf')
p.add_argument('--n', type=int, default=16)
p.add_argument('--offset', type=int, default=0)
p.add_argument('--threads', type=int, default=1)
p.add_argument('--shared', default=os.path.join(here, '..', '..', 'shared'))
p.add_argument('--table', default=None)
p.add_argument('--out', default=None)
a = p.parse_args()
sys.path.insert(0, a.autoattack_src)
from autoattack import AutoAttack  # noqa: E402

torch.set_num_threads(a.threads)
model, _ = load_reference(os.path.join(a.shared, 'models', 'reference', f'resnet44-{a.net}.safetensors'))
model.eval()
x, y = read_cifar_records(os.path.join(a.shared, 'data', 'cifar10', 'data_batch_5.bin'), 5000 + a.offset, a.n)
eps = 8 / 255 if a.norm == 'linf' else 0.5
aa = AutoAttack(model, norm='Linf' if a.norm == 'linf' else 'L2', eps=eps, version='standard', seed=0, device='cpu', verbose=False)
t0 = time.perf_counter()
_, y_adv = aa.run_standard_evaluation(x, y, bs=a.n, return_labels=True)
seconds = time.perf_counter() - t0
ref = (y_adv == y).int().tolist()
table = a.table or os.path.join(here, 'aa-table', f'{a.net}-aa-{a.norm}.json')
ours = json.load(open(table))['robust'][a.offset:a.offset + a.n]
out = {'net': a.net, 'norm': a.norm, 'eps': eps, 'records': f'data_batch_5.bin {5000 + a.offset}…{5000 + a.offset + a.n - 1}',
       'original_robust': ref, 'advexp_robust': ours, 'original_acc': sum(ref) / a.n, 'advexp_acc': sum(ours) / len(ours),
       'disagree': [i for i in range(len(ours)) if ours[i] != ref[i]], 'seconds': seconds, 'threads': a.threads}
line = json.dumps(out)
print(line)
if a.out:
    tmp = a.out + '.tmp'
    with open(tmp, 'w') as f:
        f.write(line + '\n')
    os.replace(tmp, a.out)
