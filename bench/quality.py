#!/usr/bin/env python3
"""Scores nstyle (or any finished results) over the photo x painting pairs of docs/QUALITY.md.

For each pair in --pairs (default bench/quality_pairs.txt, paths under ../shared/images) it runs
`nstyle PHOTO PAINTING -o OUT/pairN.png --size SIZE --log OUT/pairN.jsonl [extra options]`, timing
the whole command,
then `nstyle score`s the result. `--existing` scores results already in OUT (e.g. the PyTorch
reference of bench/torch_jcjohnson.py) without running anything; their times come from
OUT/log.jsonl when present. Prints one JSON line per pair and a Markdown row of medians.

  python3 bench/quality.py --out /tmp/q/default
  python3 bench/quality.py --out /tmp/q/tv -- --tv-weight 1
  python3 bench/quality.py --out /work/quality/ref --existing
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def pairs(path, root):
    out = []
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            c, s = line.split()
            out.append((os.path.join(root, c), os.path.join(root, s)))
    return out


def score(nstyle, result, content, style):
    r = subprocess.run([nstyle, "score", result, "--content", content, "--style", style],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"score failed: {r.stderr.strip()}")
    return json.loads(r.stdout.splitlines()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nstyle", default="target/release/nstyle")
    ap.add_argument("--pairs", default="bench/quality_pairs.txt")
    ap.add_argument("--images", default="../shared/images")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--only", default="", help="comma-separated pair numbers (1-based)")
    ap.add_argument("--existing", action="store_true", help="score results already in --out")
    ap.add_argument("extra", nargs="*", help="options passed to nstyle (after --)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    only = {int(i) for i in a.only.split(",") if i}
    times = {}
    if a.existing and os.path.exists(os.path.join(a.out, "log.jsonl")):
        for line in open(os.path.join(a.out, "log.jsonl")):
            rec = json.loads(line)
            times[os.path.abspath(rec["out"])] = rec["seconds"]
    rows = []
    for i, (c, s) in enumerate(pairs(a.pairs, a.images), 1):
        if only and i not in only:
            continue
        out = os.path.join(a.out, f"pair{i}.png")
        if a.existing:
            if not os.path.exists(out):
                continue
            seconds = times.get(os.path.abspath(out))
        else:
            start = time.perf_counter()
            log = os.path.join(a.out, f"pair{i}.jsonl")
            if os.path.exists(log):
                os.remove(log)
            r = subprocess.run([a.nstyle, c, s, "-o", out, "--size", str(a.size), "--quiet", "--log", log, *a.extra],
                               capture_output=True, text=True)
            seconds = round(time.perf_counter() - start, 1)
            if r.returncode != 0:
                sys.exit(f"pair {i}: nstyle failed: {r.stderr.strip()}")
        rec = {"pair": i, "content": os.path.basename(c), "style": os.path.basename(s), "seconds": seconds,
               **{k: round(v, 4) for k, v in score(a.nstyle, out, c, s).items() if k in ("grain", "style", "content")}}
        rows.append(rec)
        print(json.dumps(rec), flush=True)
    if rows:
        med = {k: statistics.median([r[k] for r in rows if r[k] is not None] or [float("nan")])
               for k in ("grain", "style", "content", "seconds")}
        print(f"| {' '.join(a.extra) or 'defaults'} | {len(rows)} | {med['grain']:.2f} | {med['style']:.3f} | "
              f"{med['content']:.3f} | {med['seconds']:.0f} s |")


if __name__ == "__main__":
    main()
