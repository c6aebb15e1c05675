"""PyTorch reference numbers for advexp's explainers (src/explain), written from shared/docs/METHOD.md sections 5 and 7
and the original papers, independently of the TypeScript code. test/explain/reference-nets.test.ts embeds its output.

Usage:
  /usr/bin/python3 bench/torch_explain.py [--models standard,robust] [--offset 5000] [--n 4] [--threads 1]

For each published net and records [offset, offset+n) of data_batch_5.bin (eval mode), one JSON document with:
  labels, pred (argmax), second (most confident class other than the label)
  ae:      targets = second, rho 0.1, 35 steps, overshoot 5, encourage, budget mode: p_before, p_after, rms
  gradcam: predicted class, layer pipe[3] (last stage): raw CAM ReLU(sum_k mean(dz/dA_k) A_k) sum and max per image,
           and the normalised 32x32 map (bilinear, align_corners=False, (m - min)/(max - min)) sum
  saliency: predicted class, max_c |dz/dx| summed per image
  ig:      predicted class, black baseline, 32 midpoint steps: sum of attributions, z(x) - z(0)
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_model import load_reference, read_cifar_records  # noqa: E402
from torch_attack import paper_attack  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared')


def gradcam(model, x, t):
    store = {}

    def hook(_m, _i, out):
        a = out.detach().requires_grad_(True)
        store['a'] = a
        return a

    h = model.pipe[3].register_forward_hook(hook)
    try:
        z = model(x)
    finally:
        h.remove()
    a = store['a']
    (g,) = torch.autograd.grad(z.gather(1, t.view(-1, 1)).sum(), a)
    alpha = g.mean((2, 3), keepdim=True)
    cam = (alpha * a).sum(1, keepdim=True).relu().detach()
    up = F.interpolate(cam, size=x.shape[2:], mode='bilinear', align_corners=False)
    lo = up.amin((1, 2, 3), keepdim=True)
    hi = up.amax((1, 2, 3), keepdim=True)
    norm = (up - lo) / (hi - lo + 1e-12)
    return cam, norm


def input_grad(model, x, t):
    xi = x.detach().requires_grad_(True)
    z = model(xi)
    (g,) = torch.autograd.grad(z.gather(1, t.view(-1, 1)).sum(), xi)
    return g


def integrated_gradients(model, x, t, steps=32):
    out_sum, gaps = [], []
    for i in range(x.shape[0]):
        xi = x[i:i + 1]
        alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
        path = alphas.view(-1, 1, 1, 1) * xi
        g = input_grad(model, path, t[i].repeat(steps)).mean(0, keepdim=True)
        attr = xi * g
        with torch.no_grad():
            z = model(torch.cat([xi, torch.zeros_like(xi)]))[:, t[i]]
        out_sum.append(attr.sum().item())
        gaps.append((z[0] - z[1]).item())
    return out_sum, gaps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--models', default='standard,robust')
    ap.add_argument('--offset', type=int, default=5000)
    ap.add_argument('--n', type=int, default=4)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x, y = read_cifar_records(os.path.join(ROOT, 'data', 'cifar10', 'data_batch_5.bin'), a.offset, a.n)
    out = {'offset': a.offset, 'n': a.n, 'labels': y.tolist(), 'nets': {}}
    for name in a.models.split(','):
        model, _ = load_reference(os.path.join(ROOT, 'models', 'reference', f'resnet44-{name}.safetensors'))
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            prob = model(x).softmax(1)
        pred = prob.argmax(1)
        masked = prob.clone()
        masked[torch.arange(a.n), y] = -1
        second = masked.argmax(1)
        adv, delta, _ = paper_attack(model, x, second, 0.1, 35, overshoot=5.0, momentum=0.0, mode='budget',
                                     encourage=True, guard=False)
        with torch.no_grad():
            pa = model(adv).softmax(1)
        cam, norm = gradcam(model, x, pred)
        g = input_grad(model, x, pred)
        ig_sum, ig_gap = integrated_gradients(model, x, pred)
        out['nets'][name] = {
            'pred': pred.tolist(), 'second': second.tolist(),
            'ae': {'p_before': prob.gather(1, second.view(-1, 1))[:, 0].tolist(),
                   'p_after': pa.gather(1, second.view(-1, 1))[:, 0].tolist(),
                   'rms': delta.pow(2).mean((1, 2, 3)).sqrt().tolist()},
            'gradcam': {'cam_sum': cam.sum((1, 2, 3)).tolist(), 'cam_max': cam.amax((1, 2, 3)).tolist(),
                        'map_sum': norm.sum((1, 2, 3)).tolist()},
            'saliency': {'map_sum': g.abs().amax(1).sum((1, 2)).tolist()},
            'ig': {'attr_sum': ig_sum, 'gap': ig_gap},
        }
    print(json.dumps(out))


if __name__ == '__main__':
    main()
