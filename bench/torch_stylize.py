#!/usr/bin/env python3
"""Whole-job comparison (issue #5, goal 3): one finished style transfer, nstyle vs PyTorch.

Both sides run the same method with the same settings: Gram style loss on relu1_1..relu5_1
(weights 1) + content loss at relu4_2, alpha 1, gamma 5, the same beta' (nstyle's rule;
PyTorch is given nstyle's value), average pooling, the same VGG-19 weights, the same
content/style pixels and the same initial noise image, and the same optimiser: the
PyTorch side is a line-by-line port of nstyle's L-BFGS (`src/optim/lbfgs.rs`: two-loop
recursion, history 20, first step of RMS 4 px, Armijo backtracking with safeguarded
quadratic interpolation, relative curvature test) with the paper's stopping rule
(relative change < 0.005, at most 500 iterations). PyTorch runs fp32 channels-last (its
fastest fp32 layout on this CPU) on the same number of threads.

Same iterations: nstyle runs to the stopping rule, then PyTorch runs exactly as many
iterations (`--torch-stop match`, the default), so both images get the same optimisation
and the final totals compare like for like. `--torch-stop rule` lets PyTorch apply the
stopping rule itself instead. Where the rule fires is sensitive to rounding (one short
step ends a run), so the job is repeated for several initial-noise seeds (`--seeds`).

Prints a JSON line per side and run, a Markdown table row per seed and a summary line.
Needs: pip install torch numpy pillow

  python3 bench/torch_stylize.py --nstyle target/release/nstyle \
      --weights ../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors \
      --content images/content/chelsea.jpg --style images/style/starry_night.jpg --size 512
"""
import argparse
import json
import os
import resource
import struct
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_inputs import add_job_args, beta_from_log, fit, noise_image, run_nstyle  # noqa: E402,F401 (grad_accuracy imports some from here)

MEAN = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1)
CONVS = ["1_1", "1_2", "P", "2_1", "2_2", "P", "3_1", "3_2", "3_3", "3_4", "P",
         "4_1", "4_2", "4_3", "4_4", "P", "5_1"]
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT = "relu4_2"


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16}[meta["dtype"]]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dt).astype(np.float32).reshape(meta["shape"]))
    return out


class Vgg:
    def __init__(self, weights, fmt=torch.channels_last):
        self.w = {k: (weights[f"conv{k}.weight"].contiguous(memory_format=fmt),
                      weights[f"conv{k}.bias"]) for k in CONVS if k != "P"}

    def __call__(self, x, deepest="5_1"):
        out = {}
        for k in CONVS:
            if k == "P":
                x = F.avg_pool2d(x, 2)
            else:
                w, b = self.w[k]
                x = F.relu(F.conv2d(x, w, b, padding=1))
                out["relu" + k] = x
                if k == deepest:
                    break
        return out


def gram(f):
    _, c, h, w = f.shape
    f = f.reshape(c, h * w)
    return f @ f.t() / (h * w)


def to_net(img, fmt=torch.channels_last):
    a = torch.from_numpy(np.asarray(img, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)
    return (a - MEAN).contiguous(memory_format=fmt)


class Objective:
    """alpha * L_content + gamma * beta' * sum_l L_gram^l, times the scale s (as nstyle)."""

    def __init__(self, net, content, style, alpha, gamma, beta_prime, fmt):
        self.net, self.alpha, self.k, self.fmt = net, alpha, gamma * beta_prime, fmt
        with torch.no_grad():
            self.p = net(content)[CONTENT].clone()
            fs = net(style)
            self.a = {l: gram(fs[l]) for l in STYLE}
        self.scale = 1.0
        self.evaluations = 0

    def parts(self, x):
        f = self.net(x)
        lc = 0.5 * ((f[CONTENT] - self.p) ** 2).sum()
        ls = sum(((gram(f[l]) - self.a[l]) ** 2).sum() / (4 * f[l].shape[1] ** 2) for l in STYLE)
        return lc, ls

    def __call__(self, x_flat, shape):
        self.evaluations += 1
        x = x_flat.view(shape).contiguous(memory_format=self.fmt).requires_grad_(True)
        lc, ls = self.parts(x)
        total = self.alpha * lc + self.k * ls
        (total * self.scale).backward()
        self.last = (float(total.detach()), float(lc.detach()), float(ls.detach()))
        return self.last[0] * self.scale, x.grad.contiguous().view(-1).clone()


def ddot(a, b):
    return float(torch.dot(a.double(), b.double()))


class Lbfgs:
    """Port of src/optim/lbfgs.rs."""

    def __init__(self, history=20, first_rms=4.0):
        self.history, self.first_rms, self.pairs, self.current = history, first_rms, [], None

    def direction(self, g):
        q = g.double().clone()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * float(torch.dot(s.double(), q))
            q -= a * y.double()
            alphas.append(a)
        if self.pairs:
            s, y, _ = self.pairs[-1]
            q *= ddot(s, y) / ddot(y, y)
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * float(torch.dot(y.double(), q))
            q += (a - b) * s.double()
        return (-q).float()

    @staticmethod
    def search(x, f, gtd, d, t, fg):
        for _ in range(20):
            xn = x + (t * d.double()).float()
            fn, gn = fg(xn)
            if np.isfinite(fn) and fn <= f + 1e-4 * t * gtd:
                return xn, fn, gn
            tq = -gtd * t * t / (2.0 * (fn - f - gtd * t)) if np.isfinite(fn) else 0.1 * t
            t = min(max(tq, 0.1 * t), 0.5 * t)
        return None

    def gradient_step(self, g):
        gn = float(torch.linalg.vector_norm(g.double()))
        return -g, (self.first_rms * np.sqrt(g.numel()) / gn if gn > 0 else 0.0)

    def step(self, x, fg):
        f, g = self.current if self.current is not None else fg(x)
        d, t = self.gradient_step(g) if not self.pairs else (self.direction(g), 1.0)
        gtd = ddot(g, d)
        if not (gtd < 0):
            self.pairs.clear()
            d, t = self.gradient_step(g)
            gtd = ddot(g, d)
        found = self.search(x, f, gtd, d, t, fg)
        if found is None and self.pairs:
            self.pairs.clear()
            d, t = self.gradient_step(g)
            gtd = ddot(g, d)
            found = self.search(x, f, gtd, d, t, fg)
        if found is None:
            self.current = (f, g)
            return x, True
        xn, fn, gn = found
        s, y = xn - x, gn - g
        sy = ddot(s, y)
        if sy > 1e-10 * float(torch.linalg.vector_norm(s.double())) * float(torch.linalg.vector_norm(y.double())):
            if len(self.pairs) == self.history:
                self.pairs.pop(0)
            self.pairs.append((s, y, 1.0 / sy))
        self.current = (fn, gn)
        return xn, False


def torch_job(weights, content, style, init, beta_prime, threads, tol, iterations, fmt=torch.channels_last):
    torch.set_num_threads(threads)
    start = time.perf_counter()
    net = Vgg(load_safetensors(weights), fmt)
    c, s, x0 = to_net(content, fmt), to_net(style, fmt), to_net(init, fmt)
    obj = Objective(net, c, s, 1.0, 5.0, beta_prime, fmt)
    shape = x0.shape
    # Scale: gradient RMS 1 at a uniform-noise probe (nstyle's rule; its value only sets
    # the units, L-BFGS with a first step of fixed RMS is invariant to it).
    gen = torch.Generator().manual_seed(0)
    probe = (torch.rand(shape, generator=gen) * 255 - MEAN).contiguous(memory_format=fmt)
    _, gp = obj(probe.contiguous().view(-1), shape)
    obj.scale = np.sqrt(gp.numel()) / float(torch.linalg.vector_norm(gp.double()))
    obj.evaluations = 0
    x = x0.contiguous().view(-1).clone()
    mean = MEAN.expand(shape).contiguous().view(-1)
    opt = Lbfgs()
    fg = lambda v: obj(v, shape)  # noqa: E731
    it = 0
    for it in range(1, iterations + 1):
        prev = x
        x, stalled = opt.step(x, fg)
        rel = float(torch.linalg.vector_norm((x - prev).double()) / torch.linalg.vector_norm((x + mean).double()))
        if stalled or rel < tol:
            break
    seconds = time.perf_counter() - start
    total, lc, ls = obj.last
    return x.view(shape), {"side": "pytorch", "torch": torch.__version__, "iterations": it, "evaluations": obj.evaluations,
            "seconds": seconds, "total": total, "content": lc, "gram": ls,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def nstyle_job(exe, weights, paths, size, threads, tol, iterations, tmp, extra):
    log = os.path.join(tmp, "log.jsonl")
    cmd = [exe, paths["content"], paths["style"], "-o", os.path.join(tmp, "nstyle.png"), "--size", str(size),
           "--init", paths["init"], "--weights", weights, "--multiscale", "off", "--tol", str(tol),
           "--iterations", str(iterations), "--log", log] + extra
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    start = time.perf_counter()
    run_nstyle(cmd, env)
    seconds = time.perf_counter() - start
    lines = [json.loads(line) for line in open(log).read().strip().splitlines()]
    last = lines[-1]
    beta = beta_from_log(lines[0])
    return {"side": "nstyle", "iterations": last["iteration"], "evaluations": last["evaluations"],
            "seconds": seconds, "total": last["total"], "content": last["content"],
            "gram": last["style"]["gram"], "beta_prime": beta,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}


def main():
    ap = argparse.ArgumentParser()
    add_job_args(ap)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tol", type=float, default=0.005)
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--seeds", default="0,1,2", help="initial-noise seeds, one job each")
    ap.add_argument("--nstyle-args", default="", help="extra nstyle options, e.g. '--conv im2col'")
    ap.add_argument("--torch-stop", choices=["match", "rule"], default="match",
                    help="PyTorch runs nstyle's iteration count (match) or its own stopping rule")
    ap.add_argument("--torch-control", action="store_true",
                    help="also run PyTorch in NCHW layout: another kernel's rounding, same method, to show how "
                         "far rounding alone moves the final total")
    a = ap.parse_args()
    rows = [run_seed(a, int(seed)) for seed in a.seeds.split(",")]
    ns_s, pt_s = sum(r[0]["seconds"] for r in rows), sum(r[1]["seconds"] for r in rows)
    worse = [r[0]["total"] / r[1]["total"] for r in rows]
    print(f"summary: {len(rows)} jobs, nstyle {ns_s:.1f} s, PyTorch {pt_s:.1f} s, time ratio "
          f"{ns_s / pt_s:.2f}; final total nstyle/PyTorch per job "
          + ", ".join(f"{w:.3f}" for w in worse) + f" (mean {sum(worse) / len(worse):.3f})")
    if a.torch_control:
        ctl = [r[2]["total"] / r[1]["total"] for r in rows]
        print("control: final total PyTorch NCHW/channels-last per job " + ", ".join(f"{w:.3f}" for w in ctl)
              + f" (mean {sum(ctl) / len(ctl):.3f})")


def run_seed(a, seed):
    with tempfile.TemporaryDirectory() as tmp:
        content, style = fit(a.content, a.size), fit(a.style, a.size)
        init = noise_image(content.size[0], content.size[1], seed)
        paths = {k: os.path.join(tmp, k + ".png") for k in ("content", "style", "init")}
        content.save(paths["content"]), style.save(paths["style"]), init.save(paths["init"])
        ns = nstyle_job(a.nstyle, a.weights, paths, a.size, a.threads, a.tol, a.iterations, tmp,
                        a.nstyle_args.split())
        print(json.dumps(ns), flush=True)
        if a.torch_stop == "match":
            tol, iterations = 0.0, ns["iterations"]
        else:
            tol, iterations = a.tol, a.iterations
        _, pt = torch_job(a.weights, content, style, init, ns["beta_prime"], a.threads, tol, iterations)
        print(json.dumps(pt), flush=True)
        ctl = None
        if a.torch_control:
            _, ctl = torch_job(a.weights, content, style, init, ns["beta_prime"], a.threads, tol, iterations,
                               torch.contiguous_format)
            ctl["layout"] = "NCHW"
            print(json.dumps(ctl), flush=True)
    mib = lambda b: f"{b / 2**20:.0f} MiB"  # noqa: E731
    print(f"| {content.size[0]}x{content.size[1]} seed {seed} | {ns['iterations']} it / {ns['evaluations']} ev, "
          f"{ns['seconds']:.1f} s, total {ns['total']:.4e}, {mib(ns['peak_rss_bytes'])} "
          f"| {pt['iterations']} it / {pt['evaluations']} ev, {pt['seconds']:.1f} s, total {pt['total']:.4e}, "
          f"{mib(pt['peak_rss_bytes'])} | {ns['seconds'] / pt['seconds']:.2f} |"
          + (f" PyTorch NCHW: {ctl['iterations']} it, total {ctl['total']:.4e} |" if ctl else ""), flush=True)
    return ns, pt, ctl


if __name__ == "__main__":
    main()
