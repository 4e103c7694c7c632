#!/usr/bin/env python3
"""bf16 products against fp32 (issue #5, goal 2): the same finished transfer with
`--conv winograd` and `--conv winograd-bf16`, per initial-noise seed.

For each run: wall time, iterations, the run's own final total (computed by its own
network), and the final image's total under one exact evaluator (`nstyle losses`, im2col
convolutions, f32; the Gram + content objective with the fp32 run's beta'), so the two
images are scored by the same objective. The style image is stretched to the content's
size first (as `nstyle losses` evaluates it), so the evaluator's objective is the one both
runs optimised. Writes the 16-bit results to --out-dir if given. Needs Pillow and numpy.

  python3 bench/bf16_check.py --nstyle target/release/nstyle --seeds 0,1,2,3,4           # paper's rule
  python3 bench/bf16_check.py --nstyle target/release/nstyle --tol 0 --iterations 45   # fixed count
"""
import argparse
import json
import os
import sys
import tempfile
import time

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_inputs import add_job_args, beta_from_log, fit, noise_image, run_nstyle  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    add_job_args(ap)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--tol", type=float, default=0.005, help="the paper's stopping rule (0: none)")
    ap.add_argument("--iterations", type=int, default=500)
    ap.add_argument("--out-dir", default=None, help="keep the 16-bit results here")
    a = ap.parse_args()
    ratios_time, ratios_loss = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = a.out_dir or tmp
        os.makedirs(out_dir, exist_ok=True)
        content = fit(a.content, a.size)
        style = Image.open(a.style).convert("RGB").resize(content.size, Image.LANCZOS)
        paths = {k: os.path.join(tmp, k + ".png") for k in ("content", "style")}
        content.save(paths["content"]), style.save(paths["style"])
        print("| seed | conv | iterations | seconds | own final total | exact evaluator's total |")
        print("|---|---|---|---|---|---|")
        for seed in map(int, a.seeds.split(",")):
            init = os.path.join(tmp, f"init{seed}.png")
            noise_image(content.size[0], content.size[1], seed).save(init)
            res = {}
            for conv in ("winograd", "winograd-bf16"):
                out = os.path.join(out_dir, f"seed{seed}_{conv}.png")
                log = os.path.join(tmp, f"{conv}.jsonl")
                start = time.perf_counter()
                run_nstyle([a.nstyle, paths["content"], paths["style"], "-o", out, "--init", init,
                            "--weights", a.weights, "--size", str(a.size), "--multiscale", "off",
                            "--conv", conv, "--16bit", "--log", log, "-q",
                            "--tol", str(a.tol), "--iterations", str(a.iterations)])
                seconds = time.perf_counter() - start
                lines = [json.loads(x) for x in open(log).read().strip().splitlines()]
                res[conv] = {"out": out, "seconds": seconds, "iterations": lines[-1]["iteration"],
                             "own": lines[-1]["total"], "beta": beta_from_log(lines[0])}
            beta = res["winograd"]["beta"]
            for conv, r in res.items():
                v = json.loads(run_nstyle([a.nstyle, "losses", "--content", paths["content"], "--style", paths["style"],
                                    "--image", r["out"], "--style-loss", "gram", "--weights", a.weights]))
                r["exact"] = sum(v["content"].values()) + 5.0 * beta * sum(v["style"]["gram"].values())
                print(f"| {seed} | {conv} | {r['iterations']} | {r['seconds']:.1f} | {r['own']:.4e} | "
                      f"{r['exact']:.4e} |", flush=True)
            ratios_time.append(res["winograd-bf16"]["seconds"] / res["winograd"]["seconds"])
            ratios_loss.append(res["winograd-bf16"]["exact"] / res["winograd"]["exact"])
    print("summary: bf16/fp32 time " + ", ".join(f"{r:.2f}" for r in ratios_time)
          + "; exact final total bf16/fp32 " + ", ".join(f"{r:.3f}" for r in ratios_loss))


if __name__ == "__main__":
    main()
