"""PyTorch version of the paper's attack routine and ARA, written from shared/docs/METHOD.md (sections 4 and 6).

This is the independent reference the TypeScript routine (src/attack/paper.ts) and ARA (src/metrics/ara.ts) are
checked against (bench/ara_agreement.ts runs both on the same records). It imports the network from
bench/torch_model.py.

Usage (one JSON document on stdout, or --json OUT):
  /usr/bin/python3 bench/torch_attack.py --model FILE.safetensors --data data_batch_5.bin \
      [--offset 5000] [--n 100] [--type attack|btr] [--steps 450] [--eps 20] [--momentum 0.9] \
      [--batch 128] [--threads 1] [--pool reference|adaptive] [--json OUT]
Prints {"model", "type", "offset", "n", "steps", "eps", "momentum", "accuracy", "distances", "ara_exact",
"ara_histogram", "seconds"}. Records are taken in file order from --offset.

Pooling: the reference model code ends with nn.AvgPool2d(8) (its `in_size // 2 ** (len(block_lens) - 1)`), while
bench/torch_model.py uses nn.AdaptiveAvgPool2d(1). Both average the 8x8 map but sum in a different order, so logits
differ in the last float32 bit; over 450 momentum steps such 1-ulp differences grow into percent-level differences
of single images' distances (the ARA itself moves by a fraction of a percent). `--pool reference` (default) swaps in
the reference's layer; `--pool adaptive` keeps torch_model.py's.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import load_reference, read_cifar_records  # noqa: E402


class GuardError(RuntimeError):
    pass


def paper_attack(model, x, t, eps, steps, overshoot=1.0, momentum=0.0, mode='budget', encourage=False,
                 guard=True, affected=None):
    """METHOD.md section 4. Returns (x + delta, delta, first_ok) where first_ok[b] is the first step index
    (0..steps) at which sample b was across its boundary (steps + 999 if never).

    mode: 'budget' (follow while RMS(delta) < eps), 'misclassify' (follow while argmax == t),
          'btr' (follow while softmax[t] > 1/K). The minimising modes return the smallest-RMS iterate among
          delta_0 .. delta_T that is across the boundary (one extra evaluation after the last step), or delta = 0
          when there is none. encourage: descend the target's cross-entropy (explanations)."""
    x = x.detach()
    B = x.shape[0]
    delta = torch.zeros_like(x)
    mom = torch.zeros_like(x)
    minimise = mode != 'budget'
    first_ok = torch.full((B,), steps + 999, dtype=torch.long)
    best = torch.zeros_like(x)
    best_sq = torch.full((B,), 1e30)
    total_ramp = steps * (steps + 1) / 2
    aff = None if affected is None else affected.view(B, 1, 1, 1).to(x.dtype)
    for step in range(steps + (1 if minimise else 0)):
        d = delta.clone().requires_grad_(True)
        z = model(x + d)
        with torch.no_grad():
            if mode == 'budget':
                follow = d.detach().pow(2).mean((1, 2, 3)) < eps ** 2
            elif mode == 'misclassify':
                follow = z.argmax(1) == t
            elif mode == 'btr':
                p = z.softmax(1)
                follow = p.gather(1, t.view(-1, 1))[:, 0] > 1.0 / z.shape[1]
            else:
                raise ValueError(mode)
            ok = ~follow
            first_ok = torch.where(ok & (first_ok > step), torch.full_like(first_ok, step), first_ok)
            if minimise:
                dd = delta.pow(2).mean((1, 2, 3))
                better = ok & (dd < best_sq)
                best[better] = delta[better]
                best_sq[better] = dd[better]
        if step == steps:  # the extra evaluation of delta_T (minimising modes)
            break
        loss = F.cross_entropy(z, t, reduction='none').sum()
        (g,) = torch.autograd.grad(loss, d)
        with torch.no_grad():
            if encourage:
                g = -g
            f4 = follow.view(B, 1, 1, 1)
            sdir = torch.where(f4, g, -delta)
            sdir = sdir / (1e-8 + sdir.pow(2).mean((1, 2, 3), keepdim=True).sqrt())
            if momentum > 0:
                mom = momentum * mom + (1 - momentum) * sdir
                sdir = mom
            if aff is not None:
                sdir = sdir * aff
            ss = eps * overshoot * (steps - step) / total_ramp
            delta = delta + ss * sdir
    if guard and bool((first_ok > steps // 2).any()):
        bad = (first_ok > steps // 2).nonzero()[:, 0].tolist()
        raise GuardError(f'samples {bad[:10]} did not cross their boundary within the first {steps // 2} steps: '
                         'increase eps or steps')
    out = best if minimise else delta
    return x + out, out, first_ok


def ara_exact(distances, k=10):
    """Sum over the descending-sorted distances: sum_k (d_k - d_{k+1}) * max(0, k/N - 1/K), d_{N+1} = 0.
    Computed in float64 with Python floats."""
    d = sorted((float(v) for v in distances), reverse=True) + [0.0]
    n = len(distances)
    return sum((d[i] - d[i + 1]) * max(0.0, (i + 1) / n - 1.0 / k) for i in range(n))


def ara_histogram(distances, k=10, bins=1000):
    """The reference's 1000-bin histogram integral (float32 torch ops, as the reference computes it)."""
    d = torch.tensor(distances, dtype=torch.float32)
    n = d.numel()
    dmax = d.max().item()
    if dmax <= 0:
        return 0.0
    hist = d.histc(bins, min=0, max=dmax)
    gap = dmax / bins
    return float(gap * (1 - hist.cumsum(0) / n).add_(-1.0 / k).clamp_(min=0).sum())


def use_reference_pooling(model):
    """Replaces torch_model.py's AdaptiveAvgPool2d(1) by the reference code's AvgPool2d(8) (same value up to
    summation order)."""
    assert isinstance(model.pipe[6], torch.nn.AdaptiveAvgPool2d), model.pipe[6]
    model.pipe[6] = torch.nn.AvgPool2d(8)
    return model


def load_attacked_model(path, pool='reference'):
    """A published net in eval mode with frozen parameters, pooled like the reference code unless pool='adaptive'."""
    model, _ = load_reference(path)
    if pool == 'reference':
        use_reference_pooling(model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def minimal_distances(model, x_all, y_all, ara_type, steps, eps, momentum, batch):
    """Per-image RMS of the smallest boundary-crossing perturbation (Attack or BTR ARA), in input order."""
    mode = 'misclassify' if ara_type == 'attack' else 'btr'
    dists = []
    for i in range(0, x_all.shape[0], batch):
        _, delta, _ = paper_attack(model, x_all[i:i + batch], y_all[i:i + batch], eps, steps, 1.0, momentum, mode)
        dists.extend(delta.pow(2).mean((1, 2, 3)).sqrt().tolist())
    return dists


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--offset', type=int, default=0)
    ap.add_argument('--n', type=int, default=100)
    ap.add_argument('--type', choices=['attack', 'btr'], default='attack')
    ap.add_argument('--steps', type=int, default=450)
    ap.add_argument('--eps', type=float, default=20.0)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--pool', choices=['reference', 'adaptive'], default='reference')
    ap.add_argument('--json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = load_attacked_model(a.model, a.pool)
    x_all, y_all = read_cifar_records(a.data, a.offset, a.n)
    t0 = time.time()
    with torch.no_grad():
        correct = sum(int((model(x_all[i:i + a.batch]).argmax(1) == y_all[i:i + a.batch]).sum())
                      for i in range(0, a.n, a.batch))
    dists = minimal_distances(model, x_all, y_all, a.type, a.steps, a.eps, a.momentum, a.batch)
    out = {
        'model': os.path.basename(a.model), 'type': a.type, 'offset': a.offset, 'n': a.n, 'steps': a.steps,
        'eps': a.eps, 'momentum': a.momentum, 'pool': a.pool, 'accuracy': correct / a.n, 'distances': dists,
        'ara_exact': ara_exact(dists), 'ara_histogram': ara_histogram(dists), 'seconds': time.time() - t0,
    }
    text = json.dumps(out)
    if a.json:
        tmp = a.json + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text + '\n')
        os.replace(tmp, a.json)
    else:
        print(text)


if __name__ == '__main__':
    main()
