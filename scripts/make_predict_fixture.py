#!/usr/bin/env python3
"""Fixture of `gradia-dist predict` against PyTorch, made with torchvision.

Run with Debian's torch (apt-get install python3-torch python3-torchvision python3-pil):
    /usr/bin/python3 scripts/make_predict_fixture.py
Writes tests/fixtures/torch/predict/image.png (a 120x88 RGB PNG: neither square nor any
input size, so predict must resize it) and expected.json.

The weights are tiny18 with 3 classes whose every tensor is the hash of its name that
src/model/hashinit.ts's applyHashWeights computes identically (make_torch_fixtures.py,
hash_tensor), so no weight file is stored. For each input size S (224: plain weights file,
96: a checkpoint whose sidecar says 96) the image goes through GRADIA's transform
(PIL RGB -> Resize((S, S)) bilinear -> ToTensor -> Normalize(ImageNet)) and the
eval-mode model; stored: logits, predicted class, and the raw Grad-CAM of the predicted
class on the layer4 grid (no ReLU, no normalisation), [y][x].
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from make_torch_fixtures import build, hash_tensor, hash_uniform

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'torch', 'predict')
ARCH, CLASSES = 'tiny18', 3
W, H = 120, 88
SIZES = [224, 96]


def make_image():
    """Smooth colour ramps plus a bright disc and hashed noise: structure at every scale."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    noise = hash_uniform('predict-image', H * W * 3).reshape(H, W, 3)
    img = np.stack([255 * x / (W - 1), 255 * y / (H - 1), 128 + 100 * np.sin(x / 7 + y / 5)], axis=2)
    disc = (x - 80) ** 2 + (y - 30) ** 2 < 18 ** 2
    img[disc] = [240, 220, 40]
    img = np.clip(img + 40 * noise, 0, 255).round().astype(np.uint8)
    return Image.fromarray(img, 'RGB')


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    image_file = os.path.join(OUT, 'image.png')
    make_image().save(image_file)
    model = build(ARCH, CLASSES)
    model.load_state_dict({k: hash_tensor(k, tuple(v.shape)) for k, v in model.state_dict().items()})
    model.eval()
    feats = {}
    model.layer4.register_forward_hook(lambda m, i, o: feats.__setitem__('A', o))
    out = dict(arch=ARCH, numClasses=CLASSES, image='image.png', torch=torch.__version__, sizes={})
    for size in SIZES:
        tf = transforms.Compose([
            transforms.Resize((size, size)),  # PIL bilinear, as GRADIA's transform
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ])
        x = tf(Image.open(image_file).convert('RGB')).unsqueeze(0)
        logits = model(x)
        A = feats['A']
        pred = int(logits.argmax(1)[0])
        gA, = torch.autograd.grad(logits[0, pred], A)
        cam = (gA.mean((2, 3), keepdim=True) * A).sum(1)[0]
        out['sizes'][str(size)] = dict(logits=logits[0].tolist(), pred=pred, cam=cam.tolist())
        print(size, 'pred', pred, 'logits', [round(v, 5) for v in logits[0].tolist()])
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(out, f, indent=1)


if __name__ == '__main__':
    main()
