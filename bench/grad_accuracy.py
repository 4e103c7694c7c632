#!/usr/bin/env python3
"""Input-gradient accuracy against a float64 reference (issue #5, the whole-job loss gap).

At a seeded noise image (the whole-job bench's seed-0 initial image), computes the gradient
of `L_gram(relu1_1) + L_content(layer)` (and of the five Gram terms alone) three ways:
PyTorch in float64 (the reference), PyTorch in float32, and `nstyle losses --grad-out`
with each convolution algorithm. Prints the relative L2 error of each against the
reference. The style image is stretched to the content's size first, because
`nstyle losses` evaluates the style at the image's size; both programs then read the same
pixels. Needs: pip install torch numpy pillow

  python3 bench/grad_accuracy.py --nstyle target/release/nstyle
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_stylize as ts  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nstyle", default="target/release/nstyle")
    ap.add_argument("--weights", default="../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors")
    ap.add_argument("--content", default="images/content/chelsea.jpg")
    ap.add_argument("--style", default="images/style/starry_night.jpg")
    ap.add_argument("--size", type=int, default=512)
    a = ap.parse_args()
    torch.set_num_threads(2)
    wts = ts.load_safetensors(a.weights)

    content = ts.fit(a.content, a.size)
    style = Image.open(a.style).convert("RGB").resize(content.size, Image.LANCZOS)
    init = ts.noise_image(content.size[0], content.size[1], 0)

    def torch_grad(dtype, style_layers, content_layer):
        net = ts.Vgg({k: v.to(dtype) for k, v in wts.items()})
        cv = lambda im: ts.to_net(im).to(dtype)  # noqa: E731
        with torch.no_grad():
            fs = net(cv(style))
            targets = {l: ts.gram(fs[l]) for l in style_layers}
            p = net(cv(content))[content_layer] if content_layer else None
        x = cv(init).requires_grad_(True)
        f = net(x)
        total = sum(((ts.gram(f[l]) - targets[l]) ** 2).sum() / (4 * f[l].shape[1] ** 2) for l in style_layers)
        if content_layer:
            total = total + 0.5 * ((f[content_layer] - p) ** 2).sum()
        total.backward()
        return x.grad.detach().contiguous().numpy()[0].astype(np.float64)

    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, k + ".png") for k in ("content", "style", "init")}
        content.save(paths["content"]), style.save(paths["style"]), init.save(paths["init"])

        def nstyle_grad(conv, style_layers, content_layer):
            out = os.path.join(tmp, "g.npy")
            cmd = [a.nstyle, "losses", "--style", paths["style"], "--image", paths["init"], "--style-loss", "gram",
                   "--style-layers", ",".join(style_layers), "--grad-out", out, "--weights", a.weights,
                   "--conv", conv]
            if content_layer:
                cmd += ["--content", paths["content"], "--content-layer", content_layer]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"nstyle failed: {r.stderr.strip()}")
            return np.load(out).astype(np.float64)

        print("| gradient of | PyTorch f32 | nstyle im2col | nstyle Winograd |")
        print("|---|---|---|---|")
        cases = [(["relu1_1"], c) for c in ("relu1_2", "relu2_2", "relu3_2", "relu4_2")] + [(ts.STYLE, None)]
        for style_layers, content_layer in cases:
            ref = torch_grad(torch.float64, style_layers, content_layer)
            rel = lambda g: np.linalg.norm(g - ref) / np.linalg.norm(ref)  # noqa: E731
            what = ("relu1_1 Gram + content at " + content_layer) if content_layer else "all five Gram terms"
            errs = [rel(torch_grad(torch.float32, style_layers, content_layer)),
                    rel(nstyle_grad("im2col", style_layers, content_layer)),
                    rel(nstyle_grad("winograd", style_layers, content_layer))]
            print(f"| {what} | " + " | ".join(f"{e:.1e}" for e in errs) + " |", flush=True)


if __name__ == "__main__":
    main()
