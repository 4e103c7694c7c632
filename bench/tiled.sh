#!/usr/bin/env bash
# Tiled against untiled evaluation at full size: time per L-BFGS iteration and per
# evaluation, the printed estimate and the measured peak (VmHWM from /usr/bin/time).
#   bash bench/tiled.sh SIZE ITERATIONS REPS "OPTIONS A" "OPTIONS B" ...
# e.g. bash bench/tiled.sh 2048 4 2 "--tile off" "--tile 1024" "--tile 512"
# One stage (multi-scale off) of the coffee photo's 16:9 crop (3840 gives 3840x2160) with
# The Starry Night, the given options appended; the configurations alternate, REPS times.
# The first iteration (which also pays the start: style statistics, content target) is
# left out of the per-iteration times: "step" is the median of the others' step_s.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NSTYLE:-target/release/nstyle}
size=$1 iters=$2 reps=$3; shift 3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/photo.png" <<'PY'
import sys
from PIL import Image
im = Image.open("images/content/coffee.jpg").convert("RGB")
w, h = im.size
ch = round(w * 9 / 16)
im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch)).save(sys.argv[1])
PY
echo "| output | options | rep | estimate | measured peak | step (s/iteration) | s/evaluation | wall |"
echo "|---|---|---|---|---|---|---|---|"
for rep in $(seq "$reps"); do
  for opts in "$@"; do
    # shellcheck disable=SC2086
    /usr/bin/time -f "PEAK %M WALL %e" "$bin" "$tmp/photo.png" images/style/starry_night.jpg \
      -o "$tmp/out.png" --size "$size" --multiscale off --iterations "$iters" --tol 0 \
      --log "$tmp/log.jsonl" $opts 2>"$tmp/err" >/dev/null || { tail -2 "$tmp/err"; continue; }
    python3 - "$tmp/log.jsonl" "$tmp/err" "$opts" "$rep" <<'PY'
import json, re, statistics, sys
events = [json.loads(l) for l in open(sys.argv[1])]
err = open(sys.argv[2]).read()
plan = next(e for e in events if e["event"] == "planned")
its = [e for e in events if e["event"] == "iteration"]
later = its[1:]
step = statistics.median(e["step_s"] for e in later)
evals = (later[-1]["evaluations"] - its[0]["evaluations"]) or 1
per_eval = sum(e["step_s"] for e in later) / evals
peak = int(re.search(r"PEAK (\d+)", err).group(1)) / 2**20
wall = float(re.search(r"WALL ([\d.]+)", err).group(1))
est = plan["memory_bytes"] / 2**30
tile = plan["stages"][-1]["tile"]
print(f"| {plan['width']}x{plan['height']} | `{sys.argv[3]}` (tile {tile}) | {sys.argv[4]} | "
      f"{est:.2f} GiB | {peak:.2f} GiB | {step:.1f} | {per_eval:.1f} | {wall:.0f} s |")
PY
  done
done
