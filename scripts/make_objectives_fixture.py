#!/usr/bin/env python3
"""Fixture for the explanation objectives (src/model/objectives), from RES's definitions.

Run with Debian's torch (apt-get install python3-torch):
    /usr/bin/python3 scripts/make_objectives_fixture.py
Writes tests/fixtures/objectives/objectives.json.

Inputs are hand-made (stored in the JSON): raw Grad-CAMs x [n, G, G] (G = 3) and labels y in
{-1, 0, 1}: a sample with positives, one with positives and negatives, one with no label,
and one with a constant cam. RES-L's extra inputs are deterministic hashes that
src/model/hashinit.ts computes identically (images, the imputation weights) and rectangles
(the full-resolution positive masks, S = 96), so no array of them is stored.

What is computed, per RES.py (github.com/YuyangGao/RES, model_train_with_map) with the
documented departures of docs/objectives.md:
  c = min-max normalised x per sample; a constant x gives c = 0 (gradia-dist's rule, not
      RES's / (max + 1e-6)). The min and max pass their gradient to every tied element
      (tfjs's Min/Max gradient), and |u| has tfjs's gradient -1 at u = 0: ties only the
      constant-cam sample makes (its c = 0 meets y+ = 0 or h's minimum), where the gradient is
      a convention (the loss is not differentiable there).
  gradia:   mean |c - y+|
  haics:    mean(BCE(clamp(c, 1e-7, 1 - 1e-7), y+) * (y != 0))
  gaussian: mean |c - g|, g = 3x3 Gaussian blur of y+ (OpenCV's sigma-0 kernel
            [1/4, 1/2, 1/4], BORDER_REFLECT_101) / (max + 1e-6)
  res-g:    relu(sum(|tanh(5 (c - a)) - y| * m) / sum(m) - eta) + gaussian, a = BF_solver (RES's
            loop, verbatim in spirit: negatives' candidates first, strict improvement)
  res-l:    the same robust term + mean |c - h| + reg * mean((h - y+)^2), h = min-max normalised
            imputation network output on the positive mask (S2/D2: + the image)
Each case stores the batch loss (mean over the 4 samples, every weight 1), the per-sample
losses of the non-robust objectives, the threshold a, d loss / d x and, for res-l,
d loss / d (imputation weights) in torch layout.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from make_torch_fixtures import hash_uniform  # the project's hash init, shared with the model fixtures

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'objectives')
G = 3
S = 96
GRAD_STRIDE = 37

X = [
    [[0.2, 1.5, -0.3], [0.9, 2.2, 0.4], [-0.8, 0.1, 1.1]],
    [[1.3, -0.4, 0.7], [0.05, 1.9, -1.2], [0.6, 0.35, 2.4]],
    [[0.5, 0.8, -0.6], [1.7, -0.2, 0.3], [0.45, 1.25, -1.0]],
    [[0.7, 0.7, 0.7], [0.7, 0.7, 0.7], [0.7, 0.7, 0.7]],
]
Y = [
    [[0, 1, 0], [1, 1, 0], [0, 0, 1]],
    [[1, -1, 0], [0, 1, -1], [-1, 0, 1]],
    [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]],
]
# full-resolution positive masks: one rectangle each (y0, y1, x0, x1), the empty sample none
RECTS = [[20, 70, 30, 90], [0, 40, 50, 96], None, [10, 86, 10, 86]]


def tie_extreme(reduce):
    """min or max over the grid whose gradient goes to every tied element (as tfjs's does)."""
    class TieExtreme(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            m = reduce(x, dim=(1, 2), keepdim=True)
            ctx.save_for_backward(x, m)
            return m

        @staticmethod
        def backward(ctx, g):
            x, m = ctx.saved_tensors
            return g * (x == m).float()
    return TieExtreme


TieMin = tie_extreme(torch.amin)
TieMax = tie_extreme(torch.amax)


class TieAbs(torch.autograd.Function):
    """|u| with tfjs's gradient at u = 0 (-1; torch's is 0): only met at ties the constant cam makes."""
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return torch.abs(u)

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g * torch.where(u > 0, torch.ones_like(u), -torch.ones_like(u))


def absolute(u):
    return TieAbs.apply(u)


def minmax(x):
    mn = TieMin.apply(x)
    mx = TieMax.apply(x)
    rng = mx - mn
    safe = rng + (rng <= 0).float()
    return (x - mn) / safe


def blur3(img):
    """OpenCV GaussianBlur(img, (3, 3), 0) on float32, BORDER_REFLECT_101."""
    def reflect(i, n):
        if n == 1:
            return 0
        return -i if i < 0 else (2 * n - 2 - i if i >= n else i)
    h, w = img.shape
    row = np.zeros_like(img)
    for r in range(h):
        for c in range(w):
            row[r, c] = img[r, c] * 0.5 + (img[r, reflect(c - 1, w)] + img[r, reflect(c + 1, w)]) * 0.25
    out = np.zeros_like(img)
    for r in range(h):
        for c in range(w):
            out[r, c] = row[r, c] * 0.5 + (row[reflect(r - 1, h), c] + row[reflect(r + 1, h), c]) * 0.25
    return out


def gaussian_targets(y):
    out = []
    for t in y.numpy():
        b = blur3(np.maximum(t, 0).astype(np.float32))
        out.append(b / (np.max(b) + 1e-6))
    return torch.tensor(np.array(out), dtype=torch.float32)


def bf_solver(X, Y):
    """RES's BF_solver (the quadratic loop), scores compared exactly as fractions."""
    x = X.detach().flatten().tolist()
    y = Y.flatten().tolist()
    g_idx = [i for i, v in enumerate(y) if v < 0]
    le_idx = [i for i, v in enumerate(y) if v > 0]
    eps = float(np.float32(1e-4))
    from fractions import Fraction
    a, a_ct = 0.0, Fraction(0)
    cands = [float(np.float32(np.float32(x[i]) + np.float32(eps))) for i in g_idx] + [x[i] for i in le_idx]
    for v in cands:
        ct = Fraction(0)
        if g_idx:
            ct += Fraction(sum(1 for c in g_idx if v > x[c]), len(g_idx))
        if le_idx:
            ct += Fraction(sum(1 for c in le_idx if v <= x[c]), len(le_idx))
        if ct > a_ct:
            a, a_ct = v, ct
    return a


def robust_term(c, y, eta):
    a = bf_solver(c, y)
    t = torch.tanh(5 * (c - a))
    m = (y != 0).float()
    npix = torch.sum(m)
    eff = torch.sum(absolute(t - y) * m) / npix
    return torch.relu(eff - eta), a


def imputation_layers(kind):
    cin = 4 if kind in ('s2', 'd2') else 1
    if kind in ('s1', 's2'):
        return [('imp', cin, 1, 64, 32, 16)]
    mid = cin
    return [('imp_conv1', cin, mid, 7, 2, 3), ('imp_conv2', mid, mid, 3, 2, 1), ('imp_conv3', mid, mid, 3, 2, 1),
            ('imp_conv4', mid, mid, 3, 2, 1), ('imp_conv5', mid, 1, 3, 2, 1)]


def imputation_params(kind):
    """Hash weights as src/model/hashinit.ts: conv scale sqrt(6 / fan_in), bias 0.1."""
    out = {}
    for key, cin, cout, k, _, _ in imputation_layers(kind):
        w = hash_uniform(f'{key}.weight', cout * cin * k * k) * np.sqrt(6.0 / (cin * k * k))
        b = hash_uniform(f'{key}.bias', cout) * 0.1
        out[f'{key}.weight'] = torch.tensor(w.reshape(cout, cin, k, k), dtype=torch.float32, requires_grad=True)
        out[f'{key}.bias'] = torch.tensor(b, dtype=torch.float32, requires_grad=True)
    return out


def masks_and_images(n):
    masks = torch.zeros(n, 1, S, S)
    for i, r in enumerate(RECTS[:n]):
        if r:
            masks[i, 0, r[0]:r[1], r[2]:r[3]] = 1
    img = torch.tensor(hash_uniform('objectives/images', n * S * S * 3).reshape(n, S, S, 3), dtype=torch.float32).permute(0, 3, 1, 2)
    return masks, img


def imputation_forward(kind, params, masks, img):
    x = torch.cat([masks, img], 1) if kind in ('s2', 'd2') else masks
    layers = imputation_layers(kind)
    for j, (key, _, _, _, stride, pad) in enumerate(layers):
        x = F.conv2d(x, params[f'{key}.weight'], params[f'{key}.bias'], stride=stride, padding=pad)
        if j < len(layers) - 1:
            x = torch.relu(x)
    return x[:, 0]


def case(objective, eta=0.0, imputation=None, reg=0.0):
    x = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    y = torch.tensor(Y, dtype=torch.float32)
    n = x.shape[0]
    c = minmax(x)
    ypos = torch.clamp(y, min=0)
    m = (y != 0).float()
    per = None
    a = None
    params = None
    if objective == 'gradia':
        per = torch.mean(absolute(c - ypos), dim=(1, 2))
        loss = per.mean()
    elif objective == 'haics':
        cc = torch.clamp(c, 1e-7, 1 - 1e-7)
        bce = -(ypos * torch.log(cc) + (1 - ypos) * torch.log(1 - cc))
        per = torch.mean(bce * m, dim=(1, 2))
        loss = per.mean()
    elif objective == 'gaussian':
        per = torch.mean(absolute(c - gaussian_targets(y)), dim=(1, 2))
        loss = per.mean()
    elif objective == 'res-g':
        r, a = robust_term(c, y, eta)
        loss = r + torch.mean(absolute(c - gaussian_targets(y)))
    elif objective == 'res-l':
        r, a = robust_term(c, y, eta)
        params = imputation_params(imputation)
        masks, img = masks_and_images(n)
        h = minmax(imputation_forward(imputation, params, masks, img))
        loss = r + torch.mean(absolute(c - h)) + reg * torch.mean((h - ypos) ** 2)
    grads = torch.autograd.grad(loss, [x] + (list(params.values()) if params else []))
    out = {
        'objective': objective, 'eta': eta, 'imputation': imputation, 'reg': reg,
        'loss': float(loss), 'gradX': grads[0].flatten().tolist(),
    }
    if per is not None:
        out['perSample'] = per.detach().tolist()
    if a is not None:
        out['threshold'] = float(a)
    if params:
        # every GRAD_STRIDE-th element (torch layout) and the sum of |g| keep the file small
        out['gradParams'] = {k: {'every': g.flatten()[::GRAD_STRIDE].tolist(), 'absSum': float(g.abs().sum())} for k, g in zip(params.keys(), grads[1:])}
    return out


def main():
    cases = [case('gradia'), case('haics'), case('gaussian'), case('res-g'), case('res-g', eta=0.1), case('res-g', eta=5.0)]
    for kind in ('s1', 's2', 'd1', 'd2'):
        cases.append(case('res-l', imputation=kind))
    cases.append(case('res-l', imputation='s1', reg=0.5, eta=0.05))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, 'objectives.json'), 'w') as f:
        json.dump({'grid': G, 'size': S, 'gradStride': GRAD_STRIDE, 'x': X, 'y': Y, 'rects': RECTS, 'cases': cases}, f)
        f.write('\n')
    print(f'wrote {len(cases)} cases to {OUT}/objectives.json')


if __name__ == '__main__':
    main()
