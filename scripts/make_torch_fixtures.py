#!/usr/bin/env python3
"""Parity fixtures for gradia-dist's model core, made with torchvision.

Run with Debian's torch (apt-get install python3-torch python3-torchvision):
    /usr/bin/python3 scripts/make_torch_fixtures.py
Writes tests/fixtures/torch/<arch>.json (index + metadata) and <arch>.bin (float32 LE).

No weight files are stored: every weight, BN buffer, input image and attention target is
a deterministic hash of (key, element index) that src/model/hashinit.ts computes
identically (see hash_uniform below), so fixtures hold only outputs.

What one fixture holds (torch layouts, NCHW):
  eval mode: logits, layer4 of image 0 (every `cstride`-th channel), per-channel spatial
  means of layer4 for all images, Grad-CAM of the predicted class (raw).
  train mode, one GRADIA phase-2 step (closed-form Grad-CAM of the true class, min-max
  normalised, L1 to the targets, global normalisation): task / attention loss, gradients
  of a few named parameters, BN running stats after the step, weights after one Adam step.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'torch')
M32 = np.uint64(0xFFFFFFFF)


def fnv1a(s):
    h = 0x811C9DC5
    for ch in s:
        h ^= ord(ch)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def hash_uniform(key, n):
    """v in (-1, 1), float64: fmix32(fnv1a(key) ^ (i * 0x9E3779B1 mod 2^32))."""
    h = np.uint64(fnv1a(key))
    i = np.arange(n, dtype=np.uint64)
    x = h ^ ((i * np.uint64(0x9E3779B1)) & M32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & M32
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & M32
    x ^= x >> np.uint64(16)
    return 2.0 * (x.astype(np.float64) + 0.5) / 4294967296.0 - 1.0


def hash_tensor(name, shape):
    """Mirror of hashWeights() in src/model/hashinit.ts (torch layout)."""
    n = int(np.prod(shape)) if len(shape) else 1
    offset, scale = 0.0, 1.0
    if name.endswith('num_batches_tracked'):
        return torch.tensor(5, dtype=torch.long)
    if name == 'fc.weight':
        scale = 1.0 / np.sqrt(shape[1])
    elif name == 'fc.bias':
        scale = 0.1
    elif name.endswith('running_mean'):
        scale = 0.1
    elif name.endswith('running_var'):
        offset, scale = 1.0, 0.5
    elif len(shape) == 4:
        scale = np.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
    elif name.endswith('.weight'):  # batch norm weight
        offset, scale = 1.0, 0.25
    elif name.endswith('.bias'):  # batch norm bias
        scale = 0.1
    v = offset + hash_uniform(name, n) * scale
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


class Tiny(ResNet):
    """[1,1,1,1] blocks, base width 8 (src/model/resnet.ts tiny18 / tiny50)."""

    def __init__(self, block, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = 8
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 8, 1)
        self.layer2 = self._make_layer(block, 16, 1, stride=2)
        self.layer3 = self._make_layer(block, 32, 1, stride=2)
        self.layer4 = self._make_layer(block, 64, 1, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64 * block.expansion, num_classes)


def build(arch, num_classes):
    if arch == 'tiny18':
        return Tiny(BasicBlock, num_classes)
    if arch == 'tiny50':
        return Tiny(Bottleneck, num_classes)
    return getattr(torchvision.models, arch)(num_classes=num_classes)


CONFIGS = {
    # n, size, labels, predWeight, attWeight, layer4 channel stride, named tensors to store
    'tiny18': dict(n=4, size=64, cstride=1, numClasses=3),
    'tiny50': dict(n=4, size=64, cstride=1, numClasses=3),
    'resnet18': dict(n=3, size=224, cstride=4, numClasses=5),
    'resnet50': dict(n=3, size=224, cstride=16, numClasses=5),
}
LABELS = [1, 2, 0, 1]
PRED_W = [1.0, 0.4, 0.8, 1.0]
ATT_W = [1.0, 1.6, 0.0, 0.2]
ATTENTION_WEIGHT = 1.5
LR = 1e-4
MAX_STORED = 6000  # elements per stored tensor (larger ones are strided)


def named_tensors(model, arch):
    last = {'tiny18': '0', 'tiny50': '0', 'resnet18': '1', 'resnet50': '2'}[arch]
    bottleneck = arch in ('tiny50', 'resnet50')
    names = ['conv1.weight', 'bn1.weight', 'bn1.bias', 'layer1.0.conv1.weight', 'layer2.0.downsample.0.weight',
             'layer3.0.bn1.weight', 'layer4.0.conv2.weight', 'layer4.0.bn2.bias',
             f'layer4.{last}.bn{3 if bottleneck else 2}.weight', 'fc.weight', 'fc.bias']
    buffers = ['bn1.running_mean', 'bn1.running_var', 'layer2.0.downsample.1.running_mean',
               f'layer4.{last}.bn{3 if bottleneck else 2}.running_var', 'layer4.0.bn1.num_batches_tracked']
    return names, buffers


class Writer:
    def __init__(self):
        self.index = {}
        self.chunks = []
        self.offset = 0

    def add(self, name, t, stride=1):
        a = t.detach().to(torch.float32).cpu().numpy().reshape(-1)
        if stride == 0:
            stride = max(1, -(-a.size // MAX_STORED))
        a = np.ascontiguousarray(a[::stride]).astype('<f4')
        self.index[name] = dict(shape=list(t.shape), stride=stride, offset=self.offset, length=int(a.size))
        self.chunks.append(a.tobytes())
        self.offset += a.size


def train_step(arch, sd, x, labels, pw, aw, targets, noise_seed):
    """One GRADIA phase-2 step in float32; returns the stored tensors by fixture name."""
    n = x.shape[0]
    g = x.shape[2] // 32
    model = build(arch, int(sd['fc.weight'].shape[0]))
    model.load_state_dict(sd)
    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__('A', o))
    if noise_seed is not None:
        gen = torch.Generator().manual_seed(noise_seed)
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
            layer.register_forward_hook(lambda m, i, o: o * (1 + 1e-5 * torch.randn(o.shape, generator=gen)))
    model.train()
    logits = model(x)
    A = feats['A']
    ce = F.cross_entropy(logits, labels, reduction='none')
    task = (pw * ce).sum() / n
    wcam = model.fc.weight[labels].detach() / (g * g)  # closed-form Grad-CAM weights, constant
    cam = (A * wcam[:, :, None, None]).sum(1)
    mn = cam.amin((1, 2), keepdim=True)
    mx = cam.amax((1, 2), keepdim=True)
    normed = (cam - mn) / (mx - mn)
    l1 = (normed - targets).abs().mean((1, 2))
    n_att = int((aw > 0).sum())
    att_sum = (aw * l1).sum()
    att = ATTENTION_WEIGHT * att_sum / n_att
    (task + att).backward()
    out = {'train.logits': logits.detach().clone(), 'train.cam': cam.detach().clone(),
           'train.losses': torch.stack([task, att, (pw * ce).sum(), att_sum]).detach()}
    names, buffers = named_tensors(model, arch)
    params = dict(model.named_parameters())
    for k in names:
        out[f'grad.{k}'] = params[k].grad.detach().clone()
    state = model.state_dict()
    for k in buffers:
        out[f'buffer.{k}'] = state[k].float().clone()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    opt.step()
    for k in names:
        out[f'adam.{k}'] = params[k].detach().clone()
    return out


def make(arch):
    cfg = CONFIGS[arch]
    n, size, C = cfg['n'], cfg['size'], cfg['numClasses']
    torch.manual_seed(0)
    model = build(arch, C)
    sd = {k: hash_tensor(k, tuple(v.shape)) for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    g = size // 32
    x_nhwc = (1.5 * hash_uniform('input', n * size * size * 3)).astype(np.float32).reshape(n, size, size, 3)
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(((hash_uniform('target', n * g * g) + 1) / 2).astype(np.float32).reshape(n, g, g))
    labels = torch.tensor(LABELS[:n])
    pw = torch.tensor(PRED_W[:n])
    aw = torch.tensor(ATT_W[:n])
    w = Writer()

    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__('A', o))

    # ---- eval mode
    model.eval()
    logits = model(x)
    A = feats['A']
    pred = logits.argmax(1)
    gA, = torch.autograd.grad(logits[torch.arange(n), pred].sum(), A)
    cam = (gA.mean((2, 3), keepdim=True) * A).sum(1)
    w.add('eval.logits', logits)
    w.add('eval.layer4_0', A[0, ::cfg['cstride']])
    w.add('eval.layer4_chmean', A.mean((2, 3)))
    w.add('eval.cam', cam)
    w.add('eval.pred', pred.float())

    # ---- train mode: one GRADIA phase-2 step
    base = train_step(arch, sd, x, labels, pw, aw, targets, None)
    # Conditioning: a float32 ResNet in training mode is chaotic at random weights (a
    # ReLU / max-pool decision that flips under a 1e-5 relative change moves early-layer
    # gradients by percents; torch's own float32 and float64 results differ that much for
    # ResNet-50). Each stored train-step tensor gets a tolerance max(1e-3, 2 * spread),
    # spread = the largest change of that tensor when torch itself reruns the step with
    # 1e-5 relative noise on the outputs of layer1..layer4 (two noise seeds).
    spread = {}
    for seed in (1, 2):
        other = train_step(arch, sd, x, labels, pw, aw, targets, seed)
        for k, v in base.items():
            d = float((other[k].double() - v.double()).abs().max() / v.double().abs().max().clamp_min(1e-30))
            spread[k] = max(spread.get(k, 0.0), d)
    tol = {}
    for k, v in base.items():
        w.add(k, v, stride=0 if k.startswith(('grad.', 'adam.', 'buffer.')) else 1)
        tol[k] = max(1e-3, 2 * spread[k])
    meta = dict(arch=arch, n=n, size=size, numClasses=C, labels=LABELS[:n], predWeight=PRED_W[:n], attWeight=ATT_W[:n],
                attentionWeight=ATTENTION_WEIGHT, lr=LR, cstride=cfg['cstride'], inputKey='input', inputScale=1.5,
                targetKey='target', torch=torch.__version__, torchvision=torchvision.__version__,
                tolerance=tol, tensors=w.index)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f'{arch}.bin'), 'wb') as f:
        f.write(b''.join(w.chunks))
    with open(os.path.join(OUT, f'{arch}.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(arch, f'{w.offset * 4} bytes; tolerances above 1e-3:', {k: round(v, 5) for k, v in tol.items() if v > 1e-3})


if __name__ == '__main__':
    torch.set_num_threads(2)
    for a in sys.argv[1:] or list(CONFIGS):
        make(a)
