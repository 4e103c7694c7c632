#!/usr/bin/env python3
"""Input-gradient accuracy against a float64 reference (issue #5, the whole-job loss gap).

At a seeded noise image (the whole-job bench's seed-0 initial image), computes the gradient
of `L_gram(relu1_1) + L_content(layer)` (and of the five Gram terms alone) three ways:
PyTorch in float64 (the reference), PyTorch in float32, and `nstyle losses --grad-out`
with each convolution algorithm. Prints the relative L2 error of each against the
reference.

`--at-result N` evaluates instead at the image nstyle reaches after N L-BFGS iterations
from that noise (the whole job's objective; written in 16 bits, then read by both programs
as the same float32 array), where the optimiser works: there the Gram matrices are close
to their targets and the content and style gradients nearly cancel, so rounding in
either weighs more than at the noise image. The style image is stretched to the content's size first, because
`nstyle losses` evaluates the style at the image's size; both programs then read the same
pixels. Needs: pip install torch numpy pillow

  python3 bench/grad_accuracy.py --nstyle target/release/nstyle
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_stylize as ts  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ts.add_job_args(ap)
    ap.add_argument("--at-result", type=int, metavar="N", default=0,
                    help="evaluate at nstyle's image after N iterations instead of at the noise")
    a = ap.parse_args()
    torch.set_num_threads(2)
    wts = ts.load_safetensors(a.weights)

    content = ts.fit(a.content, a.size)
    style = Image.open(a.style).convert("RGB").resize(content.size, Image.LANCZOS)
    init = ts.noise_image(content.size[0], content.size[1], 0)

    with tempfile.TemporaryDirectory() as tmp:
        paths = {k: os.path.join(tmp, k + ".png") for k in ("content", "style", "init")}
        content.save(paths["content"]), style.save(paths["style"]), init.save(paths["init"])

        x0 = ts.to_net(init).contiguous()
        k_gram = None
        if a.at_result:
            # The whole job's objective (nstyle's beta'), optimised by the PyTorch port of
            # nstyle's L-BFGS; any late image serves, this one is readable exactly by both.
            log = os.path.join(tmp, "log.jsonl")
            ts.run_nstyle([a.nstyle, paths["content"], paths["style"], "-o", os.path.join(tmp, "one.png"),
                           "--init", paths["init"], "--weights", a.weights, "--multiscale", "off",
                           "--iterations", "1", "--log", log, "-q"])
            beta = ts.beta_from_log(json.loads(open(log).readline()))
            k_gram = 5.0 * beta
            x0, _ = ts.torch_job(a.weights, content, style, init, beta, 2, 0.0, a.at_result)
            x0 = x0.detach().contiguous()
        image = os.path.join(tmp, "x.npy")
        np.save(image, x0.numpy()[0].astype(np.float32))

        def torch_grad(dtype, style_layers, content_layer):
            net = ts.Vgg({k: v.to(dtype) for k, v in wts.items()})
            cv = lambda im: ts.to_net(im).to(dtype)  # noqa: E731
            with torch.no_grad():
                fs = net(cv(style))
                targets = {l: ts.gram(fs[l]) for l in style_layers}
                p = net(cv(content))[content_layer] if content_layer else None
            x = x0.to(dtype).clone().requires_grad_(True)
            f = net(x)
            total = 0.0
            if style_layers:
                total = sum(((ts.gram(f[l]) - targets[l]) ** 2).sum() / (4 * f[l].shape[1] ** 2)
                            for l in style_layers)
            if content_layer:
                total = total + 0.5 * ((f[content_layer] - p) ** 2).sum()
            total.backward()
            return x.grad.detach().contiguous().numpy()[0].astype(np.float64)

        def nstyle_grad(conv, style_layers, content_layer):
            out = os.path.join(tmp, "g.npy")
            cmd = [a.nstyle, "losses", "--style", paths["style"], "--image", image, "--style-loss", "gram",
                   "--style-layers", ",".join(style_layers), "--grad-out", out, "--weights", a.weights,
                   "--conv", conv]
            if content_layer:
                cmd += ["--content", paths["content"], "--content-layer", content_layer]
            ts.run_nstyle(cmd)
            return np.load(out).astype(np.float64)

        print("| gradient of | PyTorch f32 | nstyle im2col | nstyle Winograd |")
        print("|---|---|---|---|")
        if a.at_result:
            # The optimiser's gradient, content + k Gram, is linear in two gradients that
            # `nstyle losses` writes: the five Gram terms (gs) and content + Gram (gcs).
            def two(grad):
                return grad(ts.STYLE, None), grad(ts.STYLE, ts.CONTENT)
            ref_s, ref_cs = two(lambda s, c: torch_grad(torch.float64, s, c))
            parts = [two(lambda s, c: torch_grad(torch.float32, s, c)),
                     two(lambda s, c: nstyle_grad("im2col", s, c)),
                     two(lambda s, c: nstyle_grad("winograd", s, c))]
            rows = [("all five Gram terms", lambda gs, gcs: gs),
                    ("content at relu4_2 + the five Gram terms", lambda gs, gcs: gcs),
                    (f"the whole objective, content + {k_gram:.2f} x Gram", lambda gs, gcs: gcs + (k_gram - 1) * gs)]
            for what, pick in rows:
                ref = pick(ref_s, ref_cs)
                errs = [np.linalg.norm(pick(gs, gcs) - ref) / np.linalg.norm(ref) for gs, gcs in parts]
                print(f"| {what}, after {a.at_result} iterations | " + " | ".join(f"{e:.1e}" for e in errs) + " |",
                      flush=True)
            return
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
