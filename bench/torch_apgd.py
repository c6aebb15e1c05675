"""PyTorch APGD-CE (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks"), L-inf and L2, written from the paper as the independent reference for
src/attack/apgd.ts: the same start (torch.manual_seed(seed), then a uniform L-inf / Gaussian L2 direction scaled
to eps), the same steps (eta = 2 eps, projection onto the eps-ball then [0, 1], momentum 0.75 from the second
step), the same checkpoints (p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)) and halving rule
(loss up in at most rho = 75% of the period, or eta kept at the last checkpoint and no better loss since).

Usage (one JSON document on stdout):
  /usr/bin/python3 bench/torch_apgd.py --model FILE.safetensors --data data_batch_5.bin [--offset 5000] [--n 16]
      [--norm linf|l2] [--eps E] [--steps 100] [--seed 0] [--threads 1] [--bench --iters I --warmup W]
Prints {"model", "norm", "eps", "steps", "offset", "n", "correct", "success", "robust", "seconds"}: per record 1
when clean-correct, 1 when APGD-CE found a misclassified point (attacked: the clean-correct records only, as one
batch), robust = correct and not broken.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import read_cifar_records  # noqa: E402
from torch_attack import load_attacked_model  # noqa: E402


def checkpoints(n_iter):
    """{iterations done: period length} at which the step size is checked."""
    out = {}
    k = max(int(0.22 * n_iter), 1)
    k_min = max(int(0.06 * n_iter), 1)
    decr = max(int(0.03 * n_iter), 1)
    at = k
    while at <= n_iter:
        out[at] = k
        k = max(k - decr, k_min)
        at += k
    return out


def l2(d):
    return d.square().sum(dim=(1, 2, 3), keepdim=True).sqrt()


def apgd_ce(model, x, y, eps, norm='linf', n_iter=100, rho=0.75, seed=0):
    """Returns (success bool [B], adversarial images)."""
    torch.manual_seed(seed)

    def project(v):
        if norm == 'linf':
            return torch.minimum(torch.maximum(v, x - eps), x + eps).clamp(0, 1)
        d = v - x
        n = l2(d)
        return (x + d / (n + 1e-12) * n.clamp(max=eps)).clamp(0, 1)

    def unit(t):
        n = t.abs().amax(dim=(1, 2, 3), keepdim=True) if norm == 'linf' else l2(t)
        return t / (n + 1e-12)

    def loss_grad(v):
        v = v.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(v)
            loss = F.cross_entropy(logits, y, reduction='none')
            g, = torch.autograd.grad(loss.sum(), [v])
        return logits.detach(), loss.detach(), g.detach()

    t = torch.rand(x.shape) * 2 - 1 if norm == 'linf' else torch.randn(x.shape)
    adv = (x + unit(t) * eps).clamp(0, 1)
    logits, loss, grad = loss_grad(adv)
    prev = adv
    best, grad_best, loss_best = adv, grad, loss
    best_adv, found = adv, logits.argmax(1) != y
    B = x.shape[0]
    step = torch.full((B, 1, 1, 1), 2 * eps)
    ups = torch.zeros(B)
    reduced_last = torch.ones(B, dtype=torch.bool)
    best_at_check = loss
    checks = checkpoints(n_iter)
    col = lambda m: m.view(-1, 1, 1, 1)  # noqa: E731
    for i in range(n_iter):
        a = 0.75 if i > 0 else 1.0
        direction = grad.sign() if norm == 'linf' else unit(grad)
        z = project(adv + direction * step)
        nxt = project(adv + (z - adv) * a + (adv - prev) * (1 - a))
        logits, loss_new, grad = loss_grad(nxt)
        wrong = logits.argmax(1) != y
        found = found | wrong
        best_adv = torch.where(col(wrong), nxt, best_adv)
        ups = ups + (loss_new > loss).float()
        up = loss_new > loss_best
        best = torch.where(col(up), nxt, best)
        grad_best = torch.where(col(up), grad, grad_best)
        loss_best = torch.where(up, loss_new, loss_best)
        prev, adv, loss = adv, nxt, loss_new
        if i + 1 in checks:
            reduce = (ups <= checks[i + 1] * rho) | (~reduced_last & (best_at_check >= loss_best))
            step = torch.where(col(reduce), step * 0.5, step)
            adv = torch.where(col(reduce), best, adv)
            grad = torch.where(col(reduce), grad_best, grad)
            ups = torch.zeros(B)
            reduced_last = reduce
            best_at_check = loss_best
    return found, torch.where(col(found), best_adv, x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--offset', type=int, default=5000)
    ap.add_argument('--n', type=int, default=16)
    ap.add_argument('--norm', default='linf', choices=['linf', 'l2'])
    ap.add_argument('--eps', type=float, default=None)
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--bench', action='store_true', help='the driver\'s apgd row: all --n records in one batch, timed')
    ap.add_argument('--iters', type=int, default=1)
    ap.add_argument('--warmup', type=int, default=0)
    ap.add_argument('--workload', default='apgd')
    ap.add_argument('--tune-malloc', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    eps = a.eps if a.eps is not None else (8 / 255 if a.norm == 'linf' else 0.5)
    model = load_attacked_model(a.model)
    x, y = read_cifar_records(a.data, a.offset, a.n)
    if a.bench:
        for _ in range(a.warmup):
            apgd_ce(model, x, y, eps, a.norm, a.steps, seed=a.seed)
        t0 = time.time()
        for _ in range(max(1, a.iters)):
            found, _ = apgd_ce(model, x, y, eps, a.norm, a.steps, seed=a.seed)
        dt = (time.time() - t0) / max(1, a.iters)
        print(json.dumps({'workload': 'apgd', 'threads': torch.get_num_threads(), 'n': a.n, 'img_per_s': a.n / dt,
                          'seconds': dt, 'distances': {'success': found.int().tolist()}}))
        return
    t0 = time.time()
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    idx = correct.nonzero().squeeze(1)
    success = torch.zeros(a.n, dtype=torch.bool)
    if len(idx) > 0:
        found, _ = apgd_ce(model, x[idx], y[idx], eps, a.norm, a.steps, seed=a.seed)
        success[idx] = found
    print(json.dumps({
        'model': os.path.basename(a.model), 'norm': a.norm, 'eps': eps, 'steps': a.steps, 'offset': a.offset, 'n': a.n,
        'correct': correct.int().tolist(), 'success': success.int().tolist(),
        'robust': (correct & ~success).int().tolist(), 'seconds': time.time() - t0,
    }))


if __name__ == '__main__':
    main()
