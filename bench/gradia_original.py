#!/usr/bin/env python3
"""The original GRADIA.py phase-2 epoch loop, re-implemented from its description
(/work/shared/reference/GRADIA-ALGORITHM.md) to time it against gradia-dist on the same
machine and data. Written for this benchmark; no code was taken from the original repository.

What one phase-2 epoch does here (as GRADIA.py does it):
  * data: train + val images of an ImageFolder layout (gender_data/{train,val}/<class>/),
    loaded with PIL each step (Resize(S,S), RandomHorizontalFlip of the image only, ToTensor,
    Normalize with the ImageNet mean/std), shuffled, batches of --batch;
  * attention targets of the val images that have a map: 224x224 binary map x255 -> area
    resize to G x G -> 3x3 Gaussian blur (sigma 0.8, reflect-101 border) -> / max (computed once,
    before the timed epochs, as the original does when it builds its data set);
  * per-sample weights by reasonability label (Unreasonable Accurate -> pred 0.4, att 1.6, ...);
  * per batch, in train mode:
      - for EVERY sample with att_weight > 0: a separate forward pass of that one image and a
        full backward pass of its true-class logit (hooks catch layer4's output A and dA);
        w = mean_{HW} dA (a constant), cam = sum_k w_k A_k, (cam - min) / max; the cam stays
        differentiable w.r.t. A of that single-image pass;
      - the batch forward pass, task = mean(pred_weight * CE), att = mean over those samples of
        att_weight * mean |cam - target|, loss = task + att, one backward pass, Adam step (lr 1e-4).
  * CPU, torch.set_num_threads(--threads), torchvision ResNet-50 with random weights and a
    2-class fc (the original starts from ImageNet weights; the speed is the same).

Prints one JSON line: per-epoch seconds (data loading + all steps; no evaluation), the time
spent in the per-sample Grad-CAM passes, and the counts.
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

WEIGHTS = {
    'Unreasonable Inaccurate': (1.0, 1.0),
    'Unreasonable Accurate': (0.4, 1.6),
    'Reasonable Inaccurate': (0.8, 0.2),
}
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def scan(root, split):
    d = os.path.join(root, 'gender_data', split)
    classes = sorted(c for c in os.listdir(d) if os.path.isdir(os.path.join(d, c)))
    out = []
    for label, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(d, c))):
            out.append((os.path.join(d, c, f), f, label))
    return classes, out


def load_json(path, default):
    if not os.path.exists(path):
        return default
    with open(path) as fh:
        return json.load(fh)


def reflect101(n, i):
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


def attention_target(att, grid):
    """binary HxW map -> x255 -> area resize to grid x grid -> 3x3 Gaussian (sigma 0.8) -> / max"""
    m = np.asarray(att, dtype=np.float64) * 255.0
    h, w = m.shape
    bh, bw = h // grid, w // grid  # the sizes here are multiples of the grid: area = block mean
    small = m[: bh * grid, : bw * grid].reshape(grid, bh, grid, bw).mean(axis=(1, 3))
    k1 = np.exp(-np.array([-1.0, 0.0, 1.0]) ** 2 / (2 * 0.8 ** 2))
    k1 /= k1.sum()
    blurred = np.zeros_like(small)
    for y in range(grid):
        for x in range(grid):
            s = 0.0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    s += k1[dy + 1] * k1[dx + 1] * small[reflect101(grid, y + dy), reflect101(grid, x + dx)]
            blurred[y, x] = s
    mx = blurred.max()
    return torch.tensor(blurred / mx if mx > 0 else blurred, dtype=torch.float32)


def load_image(path, size, flip):
    im = Image.open(path).convert('RGB').resize((size, size), Image.BILINEAR)
    t = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if flip:  # the original flips the image but not its map
        t = t.flip(2)
    return (t - MEAN) / STD


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--epochs', type=int, default=1)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--arch', default='resnet50')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    grid = a.size // 32

    classes, train = scan(a.data, 'train')
    _, val = scan(a.data, 'val')
    maps = {os.path.basename(e['img']): e['attention'] for e in load_json(os.path.join(a.data, 'attention_val.json'), [])}
    for e in load_json(os.path.join(a.data, 'attention_val_update.json'), []):
        maps[os.path.basename(e['img'])] = e['attention']
    for e in load_json(os.path.join(a.data, 'attention_val_remove.json'), []):
        maps.pop(os.path.basename(e['img']), None)
    reas = load_json(os.path.join(a.data, 'reasonablity_val.json'), {})
    samples = []  # (path, label, target, pred_w, att_w)
    for path, name, label in train + val:
        if name in maps:
            pw, aw = WEIGHTS.get(reas.get(name), (1.0, 0.0))
            samples.append((path, label, attention_target(maps[name], grid), pw, aw))
        else:
            samples.append((path, label, torch.zeros(grid, grid), 1.0, 0.0))

    model = getattr(torchvision.models, a.arch)(num_classes=len(classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    feats = {}

    def fwd_hook(_m, _i, out):
        feats['A'] = out
        out.register_hook(lambda g: feats.__setitem__('dA', g))

    model.layer4.register_forward_hook(fwd_hook)

    epochs = []
    for ep in range(a.epochs):
        model.train()
        order = list(range(len(samples)))
        random.shuffle(order)
        t_epoch = time.perf_counter()
        cam_s = 0.0
        n_cam = 0
        last = {}
        for b0 in range(0, len(order), a.batch):
            idx = order[b0:b0 + a.batch]
            x = torch.stack([load_image(samples[i][0], a.size, random.random() < 0.5) for i in idx])
            y = torch.tensor([samples[i][1] for i in idx])
            tgt = torch.stack([samples[i][2] for i in idx])
            pw = torch.tensor([samples[i][3] for i in idx])
            aw = torch.tensor([samples[i][4] for i in idx])
            opt.zero_grad()
            # the original's per-sample Grad-CAM: one forward + one full backward per sample
            t_cam = time.perf_counter()
            att_terms = []
            for j in range(len(idx)):
                if aw[j] <= 0:
                    continue
                out = model(x[j:j + 1])
                model.zero_grad()
                out[0, y[j]].backward(retain_graph=True)
                A, dA = feats['A'], feats['dA']
                w = dA.mean(dim=(2, 3), keepdim=True).detach()
                cam = (w * A).sum(dim=1)[0]
                cam = cam - cam.min()
                cam = cam / (cam.max() + 1e-12)
                att_terms.append(aw[j] * (cam - tgt[j]).abs().mean())
                n_cam += 1
            cam_s += time.perf_counter() - t_cam
            model.zero_grad()
            logits = model(x)
            task = (pw * F.cross_entropy(logits, y, reduction='none')).mean()
            att = torch.stack(att_terms).mean() if att_terms else torch.zeros(())
            loss = task + att
            loss.backward()
            opt.step()
            last = {'task': float(task), 'att': float(att)}
        epochs.append({'seconds': time.perf_counter() - t_epoch, 'camPassSeconds': cam_s, 'camPasses': n_cam, **last})
    print(json.dumps({
        'impl': 'bench/gradia_original.py (GRADIA.py phase-2 loop re-implemented)',
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'arch': a.arch, 'size': a.size,
        'batch': a.batch, 'samples': len(samples), 'withAttention': sum(1 for s in samples if s[4] > 0),
        'epochs': epochs,
    }))


if __name__ == '__main__':
    main()
