"""Writes the TorchScript fixtures of test/nn/script.test.ts into test/fixtures/torchscript/ (issue 12).

Run from the repository root with Debian's torch: `/usr/bin/python3 bench/make_script_fixtures.py`.
The test suite reads only the files written here (it never needs Python):

  cnn_script.pt        a small CNN with batch norm, torch.jit.script
  cnn_traced.pt        the same weights, torch.jit.trace in eval mode (batch norm's mode baked in)
  resnet18n_script.pt  torchvision's ResNet-18 with widths 4/8/16/32 (10 classes), torch.jit.script
  robust_script.pt     the published robust ResNet-44 (../shared/models/reference), torch.jit.script
  statedict.pt, statedict_legacy.pt   plain torch.save pickles (zip and pre-1.6 format) that must be refused
  expected.safetensors PyTorch's inputs, logits, input gradients, Lipschitz second-order weight gradients and
                       Grad-CAM maps (float32, named '<net>/<what>'); expected.json the scalars and choices

The references come from the eager nn.Modules (not the scripted ones), so the tests compare advexp's TorchScript
path with PyTorch's ordinary computation.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_model  # noqa: E402  (the paper's PyTorch model and Lipschitz loss)

OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'torchscript')
SHARED = os.environ.get('ADVEXP_SHARED', os.path.join(HERE, '..', '..', 'shared'))
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CNN_MEAN = [0.5, 0.4, 0.3]
CNN_STD = [0.25, 0.2, 0.3]


class SmallCNN(nn.Module):
    """features (a Sequential), pool, flatten, fc: its forward is the chain of its children plus a flatten."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def narrow_resnet18(widths=(4, 8, 16, 32), num_classes=10):
    """torchvision's ResNet-18 (its classes and forward) with every stage narrowed: the layers are rebuilt with
    torchvision's own _make_layer, so names and code are those of resnet18."""
    from torchvision.models.resnet import BasicBlock
    m = torchvision.models.resnet18(num_classes=num_classes)
    m.inplanes = widths[0]
    m.conv1 = nn.Conv2d(3, widths[0], 7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(widths[0])
    m.layer1 = m._make_layer(BasicBlock, widths[0], 2)
    m.layer2 = m._make_layer(BasicBlock, widths[1], 2, stride=2)
    m.layer3 = m._make_layer(BasicBlock, widths[2], 2, stride=2)
    m.layer4 = m._make_layer(BasicBlock, widths[3], 2, stride=2)
    m.fc = nn.Linear(widths[3], num_classes)
    return m


def randomise_bn(m, gen):
    """Running statistics and affine parameters away from their defaults, so eval and train mode differ."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(mod.num_features, generator=gen) * 0.5 + 0.75)
                mod.weight.copy_(torch.rand(mod.num_features, generator=gen) * 0.5 + 0.75)
                mod.bias.copy_(torch.randn(mod.num_features, generator=gen) * 0.1)


TENSORS = {}


def flat(t, name=None):
    """Stores a tensor for expected.safetensors under `name` (float32) and returns its name."""
    TENSORS[name] = t.detach().to(torch.float32).contiguous().clone()
    return name


def write_safetensors(path, tensors):
    import struct
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def normalised(x, mean, std):
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


def references(net, model, x, y, mean, std, k, unfair, psi, full_grads):
    """Eval logits, eval input gradient of summed CE, train logits, train-mode Lipschitz loss and its weight grads."""
    out = {}
    norm = (lambda v: v) if mean is None else (lambda v: normalised(v, mean, std))
    wrapped = lambda v: model(norm(v))  # noqa: E731
    model.eval()
    xi = x.clone().requires_grad_(True)
    logits = wrapped(xi)
    (g,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction='sum'), xi)
    out['logits_eval'] = flat(logits, f'{net}/logits_eval')
    out['input_grad_eval'] = flat(g, f'{net}/input_grad_eval')
    model.train()
    state = {n: b.clone() for n, b in model.named_buffers()}
    with torch.no_grad():
        out['logits_train'] = flat(wrapped(x), f'{net}/logits_train')
    # Lipschitz loss, train mode (batch statistics), fixed choices: second-order weight gradients.
    model.zero_grad()

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, v):
            return self.m(norm(v))
    loss, lc, la = torch_model.lipschitz_loss(Wrapped(), x.clone(), y, psi, k=k, unfair=unfair)
    params = [p for _, p in model.named_parameters()]
    grads = torch.autograd.grad(loss, params)
    out['lipschitz'] = {'psi': psi, 'k': k, 'unfair': unfair, 'loss': loss.item(), 'loss_cls': lc.item(),
                        'loss_adv': la.item()}
    gd = {}
    for (n, _), gr in zip(model.named_parameters(), grads):
        gd[n] = flat(gr, f'{net}/wgrad/{n}') if full_grads else {'norm': gr.double().norm().item(), 'first': flat(gr.reshape(-1)[:16], f'{net}/wgrad_first/{n}'),
                                             'sum_abs': gr.double().abs().sum().item()}
    out['lipschitz']['weight_grads'] = gd
    # Restore the running statistics the train-mode passes moved.
    with torch.no_grad():
        for n, b in model.named_buffers():
            b.copy_(state[n])
    model.eval()
    return out


def gradcam(net, key, model, layer, x, targets, mean, std):
    """Grad-CAM with a forward hook (pytorch-grad-cam's way): ReLU(sum_k mean_hw(dz_c/dA_k) A_k) at layer size."""
    acts = []
    h = layer.register_forward_hook(lambda m, i, o: acts.append(o))
    model.eval()
    z = model(normalised(x, mean, std))
    h.remove()
    a = acts[0]
    (g,) = torch.autograd.grad(z.gather(1, torch.tensor(targets).view(-1, 1)).sum(), a)
    cam = F.relu((a * g.mean((2, 3), keepdim=True)).sum(1))
    return {'targets': targets, 'cam': flat(cam, f'{net}/{key}'), 'shape': list(cam.shape)}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    exp = {'torch': torch.__version__, 'torchvision': torchvision.__version__}

    # ---- small CNN: scripted and traced, normalised outside (mean/std given at load)
    cnn = SmallCNN()
    randomise_bn(cnn, gen)
    cnn.eval()
    x = torch.rand(4, 3, 16, 16, generator=gen)
    y = torch.tensor([3, 7, 0, 9])
    torch.jit.script(cnn).save(os.path.join(OUT, 'cnn_script.pt'))
    torch.jit.trace(cnn, normalised(x, CNN_MEAN, CNN_STD)).save(os.path.join(OUT, 'cnn_traced.pt'))
    e = {'mean': CNN_MEAN, 'std': CNN_STD, 'input_shape': list(x.shape), 'x': flat(x, 'cnn/x'), 'y': y.tolist()}
    e.update(references('cnn', cnn, x, y, CNN_MEAN, CNN_STD, k=[1, 5, 2, 8], unfair=[False, True, False, False],
                        psi=3.0, full_grads=True))
    e['gradcam_features.3'] = gradcam('cnn', 'gradcam_features.3', cnn, cnn.features[3], x, [3, 1, 4, 1], CNN_MEAN, CNN_STD)
    e['gradcam_features'] = gradcam('cnn', 'gradcam_features', cnn, cnn.features, x, [3, 1, 4, 1], CNN_MEAN, CNN_STD)
    exp['cnn'] = e
    torch.save(cnn.state_dict(), os.path.join(OUT, 'statedict.pt'))
    torch.save(cnn.state_dict(), os.path.join(OUT, 'statedict_legacy.pt'), _use_new_zipfile_serialization=False)

    # ---- narrow torchvision ResNet-18, scripted, ImageNet normalisation outside
    rn = narrow_resnet18()
    randomise_bn(rn, gen)
    rn.eval()
    torch.jit.script(rn).save(os.path.join(OUT, 'resnet18n_script.pt'))
    xr = torch.rand(2, 3, 64, 64, generator=gen)
    yr = torch.tensor([2, 5])
    e = {'mean': IMAGENET_MEAN, 'std': IMAGENET_STD, 'input_shape': list(xr.shape), 'x': flat(xr, 'resnet18n/x'), 'y': yr.tolist()}
    e.update(references('resnet18n', rn, xr, yr, IMAGENET_MEAN, IMAGENET_STD, k=[4, 1], unfair=[True, False], psi=2.0,
                        full_grads=False))
    e['gradcam_layer4'] = gradcam('resnet18n', 'gradcam_layer4', rn, rn.layer4, xr, [2, 7], IMAGENET_MEAN, IMAGENET_STD)
    e['gradcam_layer3.1'] = gradcam('resnet18n', 'gradcam_layer3.1', rn, rn.layer3[1], xr, [2, 7], IMAGENET_MEAN, IMAGENET_STD)
    exp['resnet18n'] = e

    # ---- the published robust net (normalises inside), scripted
    ref = os.path.join(SHARED, 'models', 'reference', 'resnet44-robust.safetensors')
    if os.path.exists(ref):
        robust, _ = torch_model.load_reference(ref)
        robust.eval()
        scripted = torch.jit.script(robust)
        path = os.path.join(OUT, 'robust_script.pt')
        scripted.save(path)
        xs = torch.rand(3, 3, 32, 32, generator=gen)
        with torch.no_grad():
            exp['robust'] = {'x': flat(xs, 'robust/x'), 'input_shape': list(xs.shape), 'logits_eval': flat(robust(xs), 'robust/logits_eval'),
                             'scripted_logits_eval': flat(scripted(xs), 'robust/scripted_logits_eval')}
        print(f'robust_script.pt: {os.path.getsize(path)} bytes')
    else:
        print(f'{ref} not found: robust_script.pt not written', file=sys.stderr)

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(exp, f, indent=1)
    write_safetensors(os.path.join(OUT, 'expected.safetensors'), TENSORS)
    for n in sorted(os.listdir(OUT)):
        print(f'{n}: {os.path.getsize(os.path.join(OUT, n))} bytes')


if __name__ == '__main__':
    torch.set_num_threads(1)
    main()
