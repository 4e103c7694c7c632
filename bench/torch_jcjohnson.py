#!/usr/bin/env python3
"""The reference a user compares against (issue #12): jcjohnson/neural-style's defaults in PyTorch.

What neural_style.lua (and its port neural-style-pt) do with no options, on our VGG-19 weights:
- content image resized to a long edge of 512 (`-image_size`), style image to 512 x 1.0
  (`-style_scale`); input 0..255 with the mean subtracted;
- max pooling (`-pooling max`); content loss at relu4_2, style losses at relu1_1..relu5_1;
- content: `5 * mean((F - P)^2)`; style: `100 * mean((G - A)^2)` per layer with
  `G = F F^T / (C H W)`; total variation: a gradient of `1e-3 * 1/2 sum (dx^2 + dy^2)`
  over the interior, exactly as `TVLoss` computes it (it adds nothing to the reported loss);
- random init `0.001 * randn`; L-BFGS with history 100, step 1, no line search, tolerances
  off, 1000 iterations (`torch.optim.LBFGS`, as neural-style-pt);
- output: add the mean, clip to 0..255.

Optional dependency, never run by tests: pip install torch numpy pillow.
Saves OUT (the last iterate) and, with --save-at, OUT-<iteration>.png on the way; prints one JSON
line per saved image with the wall time since the start (weights loading included).

  python3 bench/torch_jcjohnson.py --content ../shared/images/content/tubingen.jpg \
      --style ../shared/images/style/starry_night.jpg --out /tmp/ref.png --iterations 300
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_inputs import fit  # noqa: E402
from torch_stylize import CONTENT, CONVS, MEAN, STYLE, load_safetensors  # noqa: E402

CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 5.0, 100.0, 1e-3


class MaxPoolVgg:
    def __init__(self, weights):
        self.w = {k: (weights[f"conv{k}.weight"], weights[f"conv{k}.bias"]) for k in CONVS if k != "P"}

    def __call__(self, x):
        out = {}
        for k in CONVS:
            if k == "P":
                x = F.max_pool2d(x, 2)
            else:
                x = F.relu(F.conv2d(x, *self.w[k], padding=1))
                out["relu" + k] = x
        return out


def gram(f):
    _, c, h, w = f.shape
    f = f.reshape(c, h * w)
    return f @ f.t() / (c * h * w)


def to_net(img):
    a = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    return a - MEAN


def save(x, path):
    a = (x.detach()[0] + MEAN[0]).clamp(0, 255).permute(1, 2, 0).round().byte().numpy()
    tmp = path + ".tmp.png"
    Image.fromarray(a).save(tmp)
    os.replace(tmp, path)


def tv_grad(x):
    """The gradient neural-style's TVLoss adds (its loss value is not reported)."""
    g = torch.zeros_like(x)
    xd = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    yd = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    g[:, :, :-1, :-1] += xd + yd
    g[:, :, :-1, 1:] -= xd
    g[:, :, 1:, :-1] -= yd
    return TV_WEIGHT * g


class TvHook(torch.autograd.Function):
    """Identity forward; adds the TV gradient on the way back (TVLoss's updateGradInput)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad + tv_grad(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default="../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors")
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--save-at", default="", help="comma-separated iteration counts")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    start = time.perf_counter()
    net = MaxPoolVgg(load_safetensors(a.weights))
    content = to_net(fit(a.content, a.size))
    style = to_net(fit(a.style, a.size))
    with torch.no_grad():
        target = net(content)[CONTENT]
        fs = net(style)
        grams = {l: gram(fs[l]) for l in STYLE}
    x = (0.001 * torch.randn(content.shape)).requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100,
                            tolerance_grad=-1, tolerance_change=-1)

    def closure():
        opt.zero_grad()
        f = net(TvHook.apply(x))
        loss = CONTENT_WEIGHT * F.mse_loss(f[CONTENT], target)
        for l in STYLE:
            loss = loss + STYLE_WEIGHT * F.mse_loss(gram(f[l]), grams[l])
        loss.backward()
        return loss

    marks = sorted({int(s) for s in a.save_at.split(",") if s} | {a.iterations})
    done = 0
    base, ext = os.path.splitext(a.out)
    for mark in marks:
        if mark > a.iterations:
            break
        # One iteration per step() call: torch's LBFGS keeps its history in opt.state.
        while done < mark:
            loss = opt.step(closure)
            done += 1
        path = a.out if mark == a.iterations else f"{base}-{mark}{ext}"
        save(x, path)
        print(json.dumps({"iterations": done, "seconds": round(time.perf_counter() - start, 1),
                          "loss": float(loss.detach()), "out": path}), flush=True)


if __name__ == "__main__":
    main()
