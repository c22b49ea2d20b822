#!/usr/bin/python3
"""Make tests/fixtures/cv/*.json: PIL reference values for the image resize
(torchvision Resize((s, s)) = PIL BILINEAR on the PIL image) and OpenCV reference values for the attention targets
(INTER_AREA resize + GaussianBlur 3x3 sigma 0 + /max, as GRADIA.py's
resize_attention_label) and for the evaluation IoU (Grad-CAM ReLU, cv2.resize bilinear,
min-max, > 0.75 vs human > 0). Needs Debian's python3-opencv, python3-numpy and python3-pil;
the tests only read the committed JSON. Deterministic (fixed seed).

    /usr/bin/python3 scripts/make_cv_fixtures.py   (Debian python, where python3-opencv lives)
"""
import json
import os

import base64

import cv2
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), '..', 'tests', 'fixtures', 'cv')
rng = np.random.default_rng(20221)


def blob_map(h, w):
    m = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.integers(0, h), rng.integers(0, w)
        ry, rx = rng.integers(1, max(2, h // 3)), rng.integers(1, max(2, w // 3))
        yy, xx = np.ogrid[:h, :w]
        m[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 1
    return m


def sparse_map(h, w, p):
    return (rng.random((h, w)) < p).astype(np.uint8)


def pack(m):
    return [''.join('1' if v else '0' for v in row) for row in m]


def target(m, grid):
    # exactly resize_attention_label of GRADIA.py
    att_map = np.uint8(m) * 255
    r = cv2.resize(att_map, (grid, grid), interpolation=cv2.INTER_AREA)
    b = cv2.GaussianBlur(r, (3, 3), 0)
    mx = np.max(b)
    t = None if mx == 0 else np.float32(b / mx).tolist()
    return r, b, t


cases = []
shapes = [(224, 224, 7), (96, 96, 3), (100, 100, 3), (50, 70, 7), (33, 33, 5),
          (7, 7, 7), (64, 64, 2), (64, 64, 1), (113, 111, 7), (40, 40, 4)]
for (h, w, g) in shapes:
    for kind in (('blob', 'sparse', 'half') if h * w <= 12000 else ('blob', 'sparse')):
        if kind == 'blob':
            m = blob_map(h, w)
        elif kind == 'sparse':
            m = sparse_map(h, w, 0.02)
        else:
            m = np.zeros((h, w), np.uint8)
            m[:, : w // 2] = 1
        r, b, t = target(m, g)
        cases.append({'h': h, 'w': w, 'grid': g, 'kind': kind, 'map': pack(m),
                      'resized': r.flatten().tolist(), 'blurred': b.flatten().tolist(), 'target': t})
# an all-zero map and a tiny one that survives
z = np.zeros((32, 32), np.uint8)
r, b, t = target(z, 4)
cases.append({'h': 32, 'w': 32, 'grid': 4, 'kind': 'zero', 'map': pack(z),
              'resized': r.flatten().tolist(), 'blurred': b.flatten().tolist(), 'target': t})

with open(os.path.join(OUT, 'attention_targets.json'), 'w') as f:
    json.dump({'opencv': cv2.__version__, 'cases': cases}, f, separators=(',', ':'))

# Evaluation IoU: GRADIA.py GradCam.__call__ + model_test
iou_cases = []
for (g, h, w) in [(7, 224, 224), (7, 56, 56), (3, 20, 30), (2, 9, 9), (7, 50, 70), (4, 64, 64)]:
    for k in (range(3) if h * w <= 12000 else range(1)):
        cam = rng.normal(size=(g, g)).astype(np.float32)
        if k == 2:
            cam = -np.abs(cam)  # all negative: ReLU gives zero -> constant
            cam[0, 0] = 0.5
        human = blob_map(h, w) if k != 1 else sparse_map(h, w, 0.3)
        c = np.maximum(cam, 0)
        up = cv2.resize(c, (w, h))  # default INTER_LINEAR
        up = up - np.min(up)
        up = up / np.max(up)
        a = up > 0.75
        hb = human > 0
        inter = np.sum(np.bitwise_and(a, hb))
        union = np.sum(np.bitwise_or(a, hb))
        case = {'grid': g, 'h': h, 'w': w, 'cam': cam.flatten().tolist(), 'human': pack(human),
                'inter': int(inter), 'union': int(union), 'iou': float(inter / union)}
        if h * w <= 1000:
            case['upsampled'] = cv2.resize(c, (w, h)).flatten().tolist()
        iou_cases.append(case)

with open(os.path.join(OUT, 'iou.json'), 'w') as f:
    json.dump({'opencv': cv2.__version__, 'cases': iou_cases}, f, separators=(',', ':'))
# Image resize: torchvision.transforms.Resize((h, w)) on a PIL image is
# img.resize((w, h), Image.BILINEAR); ToTensor/Normalize are checked in the tests.
resize_cases = []
for (sh, sw, dh, dw) in [(23, 37, 16, 16), (7, 10, 24, 24), (48, 64, 64, 64), (90, 120, 32, 32), (33, 17, 20, 45), (16, 16, 16, 16)]:
    yy, xx = np.mgrid[:sh, :sw]
    base = np.stack([xx * 255 // max(1, sw - 1), yy * 255 // max(1, sh - 1), (xx + yy) % 256], -1)
    noise = rng.integers(-60, 61, size=(sh, sw, 3))
    img = np.clip(base + noise, 0, 255).astype(np.uint8)
    out = np.asarray(Image.fromarray(img, 'RGB').resize((dw, dh), Image.BILINEAR))
    resize_cases.append({'sh': sh, 'sw': sw, 'dh': dh, 'dw': dw,
                         'src': base64.b64encode(img.tobytes()).decode(),
                         'dst': base64.b64encode(np.ascontiguousarray(out).tobytes()).decode()})
with open(os.path.join(OUT, 'pil_resize.json'), 'w') as f:
    json.dump({'pillow': Image.__version__ if hasattr(Image, '__version__') else '', 'cases': resize_cases}, f, separators=(',', ':'))
print('wrote', OUT)
