#!/usr/bin/env bash
# The "Time" numbers of docs/QUALITY.md, on a quiet machine, one job at a time: the PyTorch
# reference's time per iteration (15 iterations, the last 10 timed from its JSON lines) and
# one whole default nstyle run, chelsea x wave at 512 px, and the README's first command.
# Needs torch (bench/torch_jcjohnson.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
"$python" bench/torch_jcjohnson.py --content ../shared/images/content/chelsea.png \
  --style ../shared/images/style/wave.jpg --out /tmp/timing_ref.png --size 512 \
  --iterations 15 --save-at 5 --threads 2
/usr/bin/time -f "nstyle default chelsea x wave 512: %e s, peak %M KB" target/release/nstyle \
  ../shared/images/content/chelsea.png ../shared/images/style/wave.jpg -o /tmp/timing_after.png \
  --quiet --log /tmp/timing_after.jsonl
# The README's first command (256 px, one stage), timed and scored.
/usr/bin/time -f "README first command 256: %e s, peak %M KB" target/release/nstyle \
  images/content/chelsea.jpg images/style/starry_night.jpg -o /tmp/timing_first.png --size 256 --quiet
target/release/nstyle score /tmp/timing_first.png --content images/content/chelsea.jpg \
  --style images/style/starry_night.jpg
