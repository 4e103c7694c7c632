#!/usr/bin/env python3
"""PyTorch reference for `nstyle bench`: the same iteration in PyTorch on the CPU.

One iteration = VGG-19 forward to relu5_1 + backward to the input image (no weight
gradients) with a Gram style loss on relu1_1..relu5_1 and a content loss at relu4_2.
Prints one JSON object: median seconds per iteration for fp32 (NCHW), fp32 channels-last
and, with --bf16, bf16 autocast channels-last; plus peak RSS.

Install for the comparison (optional, never needed by the tests):  pip install torch numpy
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CFG = [(3, 64), (64, 64), "P", (64, 128), (128, 128), "P", (128, 256), (256, 256), (256, 256), (256, 256), "P",
       (256, 512), (512, 512), (512, 512), (512, 512), "P", (512, 512)]
NAMES = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu3_4",
         "relu4_1", "relu4_2", "relu4_3", "relu4_4", "relu5_1"]
STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT = "relu4_2"


class VGG(nn.Module):
    def __init__(self, pooling):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1) for a, b in [c for c in CFG if c != "P"]])
        self.pool = nn.AvgPool2d(2) if pooling == "avg" else nn.MaxPool2d(2)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        out, i = {}, 0
        for c in CFG:
            if c == "P":
                x = self.pool(x)
            else:
                x = F.relu(self.convs[i](x))
                out[NAMES[i]] = x
                i += 1
        return out


def gram(f):
    n, c, h, w = f.shape
    f = f.reshape(c, h * w)
    return f @ f.t() / (h * w)


def iteration(net, x, targets, content):
    x.grad = None
    feats = net(x)
    loss = 0.5 * ((feats[CONTENT] - content) ** 2).sum()
    for name in STYLE:
        g = gram(feats[name].float())
        c = g.shape[0]
        loss = loss + ((g - targets[name]) ** 2).sum() / (4 * c * c)
    loss.float().backward()
    return x.grad


def measure(net, size, iters, channels_last, bf16):
    torch.manual_seed(0)
    x = (torch.rand(1, 3, size, size) * 255 - 120)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        net = net.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    with torch.no_grad():
        s = torch.rand(1, 3, size, size) * 255 - 120
        feats = net(s)
        targets = {k: gram(feats[k]) for k in STYLE}
        content = feats[CONTENT].clone()
    times = []
    for i in range(iters + 1):
        t = time.perf_counter()
        if bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                iteration(net, x, targets, content)
        else:
            iteration(net, x, targets, content)
        if i > 0:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pooling", default="avg")
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    net = VGG(a.pooling).eval()
    r = {"size": a.size, "torch": torch.__version__, "threads": a.threads,
         "fp32": measure(net, a.size, a.iters, False, False),
         "fp32_channels_last": measure(VGG(a.pooling).eval(), a.size, a.iters, True, False)}
    if a.bf16:
        r["bf16_channels_last"] = measure(VGG(a.pooling).eval(), a.size, a.iters, True, True)
    r["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(r))


if __name__ == "__main__":
    main()
