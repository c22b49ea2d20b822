#!/usr/bin/python3
"""Make tests/fixtures/torch/explanation_metrics.json: RES's explanation precision, recall and
F1 (RES.py GradCam.__call__ + compute_exp_score, Gao et al. KDD'22) for small hand-made and
random Grad-CAMs against human labels with positive (1), negative (-1) and unlabelled (0)
pixels, computed from RES's definitions with PyTorch (Debian's python3-torch):

    cam = cam - min(cam)                        (on the G x G grid, float32, no ReLU)
    cam = bilinear resize to the map's h x w    (RES calls cv2.resize; OpenCV is not
                                                 installed here, so torch's bilinear with
                                                 align_corners=False, which computes the
                                                 same half-pixel weights: checked below
                                                 against the OpenCV values in
                                                 tests/fixtures/cv/iou.json)
    cam = cam / (max(cam) + 1e-6);  x = cam > 0.5
    tp = sum(x * (y > 0)); fp = sum(x * (y < 0)); fn = sum((1 - x) * (y > 0))
    P = tp / (tp + fp + 1e-6); R = tp / (tp + fn + 1e-6); F1 = 2 P R / (P + R + 1e-6)

The tests only read the committed JSON. Deterministic (fixed seed).

    /usr/bin/python3 scripts/make_explanation_metrics_fixture.py
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(__file__)
OUT = os.path.join(HERE, '..', 'tests', 'fixtures', 'torch', 'explanation_metrics.json')
CV_IOU = os.path.join(HERE, '..', 'tests', 'fixtures', 'cv', 'iou.json')
rng = np.random.default_rng(1522)


def bilinear(cam, h, w):
    t = torch.from_numpy(np.ascontiguousarray(cam, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(h, w), mode='bilinear', align_corners=False)[0, 0]


# The claim that torch's bilinear (align_corners=False) is OpenCV's INTER_LINEAR, on the
# OpenCV outputs the project's IoU fixture holds (upsampling of ReLU'd cams).
with open(CV_IOU) as f:
    cv_cases = json.load(f)['cases']
cv_diff = 0.0
cv_checked = 0
for c in cv_cases:
    if 'upsampled' not in c:
        continue
    cam = np.maximum(np.array(c['cam'], np.float32).reshape(c['grid'], c['grid']), 0)
    up = bilinear(cam, c['h'], c['w']).numpy().flatten()
    cv_diff = max(cv_diff, float(np.max(np.abs(up - np.array(c['upsampled'], np.float32)))))
    cv_checked += 1
assert cv_checked > 0 and cv_diff < 1e-5, cv_diff


def blob(h, w):
    m = np.zeros((h, w), bool)
    cy, cx = rng.integers(0, h), rng.integers(0, w)
    ry, rx = rng.integers(1, max(2, h // 3)), rng.integers(1, max(2, w // 3))
    yy, xx = np.ogrid[:h, :w]
    m[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = True
    return m


def label(h, w, negatives):
    y = np.zeros((h, w), np.int8)
    y[blob(h, w)] = 1
    if negatives:
        y[blob(h, w) & (y == 0)] = -1
    return y


def pack(y):
    return [''.join('1' if v > 0 else 'n' if v < 0 else '0' for v in row) for row in y]


def scores(cam, grid, y):
    h, w = y.shape
    c = torch.from_numpy(cam.reshape(grid, grid))
    c = c - torch.min(c)
    up = bilinear(c.numpy(), h, w)
    up = up / (torch.max(up) + 1e-6)
    x = (up > 0.5).numpy().astype(np.float64)
    yt = y.astype(np.float64)
    eps = 1e-6
    tp = np.sum(x * (yt > 0))
    fp = np.sum(x * (yt < 0))
    fn = np.sum((1 - x) * (yt > 0))
    p = tp / (tp + fp + eps)
    r = tp / (tp + fn + eps)
    f1 = 2 * (p * r) / (p + r + eps)
    return up, x, dict(tp=int(tp), fp=int(fp), fn=int(fn), precision=float(p), recall=float(r), f1=float(f1))


cases = []
for (g, h, w) in [(7, 224, 224), (3, 20, 30), (2, 9, 9), (4, 64, 64), (7, 50, 70), (3, 96, 96)]:
    for kind in ('pos+neg', 'pos', 'negative cam', 'constant cam'):
        cam = rng.normal(size=(g, g)).astype(np.float32)
        if kind == 'negative cam':
            cam = -np.abs(cam) - 1  # RES takes no ReLU: still a shape after min-max
        if kind == 'constant cam':
            cam = np.full((g, g), 0.3, np.float32)
        y = label(h, w, negatives=kind != 'pos')
        if kind == 'pos+neg':
            # put a hot spot on the negative region so that fp > 0
            neg = np.argwhere(y < 0)
            if len(neg):
                yy, xx = neg[len(neg) // 2]
                cam[min(g - 1, yy * g // h), min(g - 1, xx * g // w)] += 4
        up, x, s = scores(cam.flatten(), g, y)
        case = {'grid': g, 'h': h, 'w': w, 'kind': kind, 'cam': cam.flatten().tolist(), 'label': pack(y), 'mask_sum': int(x.sum()), **s}
        if h * w <= 1000:
            case['normalised'] = up.numpy().flatten().tolist()
        cases.append(case)

with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'torch_vs_opencv_bilinear_max_abs_diff': cv_diff, 'cases': cases}, f, separators=(',', ':'))
print(f'wrote {OUT}: {len(cases)} cases; torch bilinear vs OpenCV on {cv_checked} cases: max |diff| {cv_diff:.3g}')
