#!/usr/bin/env bash
# The memory promise: nstyle's printed estimate against the measured peak (VmHWM from
# /usr/bin/time) for each size, convolution algorithm and multi-scale on/off. Each stage runs
# two L-BFGS iterations with a history of one pair, so the peak includes a full L-BFGS
# memory (one iteration would leave the history the estimate counts unallocated and hide
# an undercount elsewhere, as it once did). Then, at the sizes in FILLED (default 512 1024),
# one stage with the default history of 20 pairs, run until it is full (22 iterations).
#   bash bench/memory_promise.sh [SIZES...]      # default: 256 512 1024 2048 3840
# 3840 means 3840x2160 (a 16:9 crop of the repository's coffee photo). Prints markdown tables.
# CONVS="im2col" and MULTISCALE="on" pick rows (a 3840x2160 row takes 4-9 minutes);
# FILLED="" skips the full-history table.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NSTYLE:-target/release/nstyle}
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(256 512 1024 2048 3840)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/photo.png" <<'PY'
import sys
from PIL import Image
im = Image.open("images/content/coffee.jpg").convert("RGB")
w, h = im.size
ch = round(w * 9 / 16)            # a 16:9 crop, so --size 3840 gives 3840x2160
im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch)).save(sys.argv[1])
PY
convs=(winograd im2col)
grep -q avx512_bf16 /proc/cpuinfo && convs+=(winograd-bf16)
[ -n "${CONVS:-}" ] && read -ra convs <<<"$CONVS"
read -ra multiscale <<<"${MULTISCALE:-on off}"
# One row: run nstyle with the given options, compare its estimate with the peak.
row() {
  local label=$1; shift
  local err="$tmp/err"
  /usr/bin/time -f "PEAK %M" "$bin" "$tmp/photo.png" images/style/starry_night.jpg \
    -o "$tmp/out.png" --tol 0 "$@" 2>"$err" >/dev/null || { tail -2 "$err"; return; }
  est=$(grep -o 'estimated memory [0-9.]* GiB' "$err" | grep -o '[0-9.]*')
  peak_kb=$(grep -o 'PEAK [0-9]*' "$err" | grep -o '[0-9]*')
  size=$(grep -o 'nstyle: [0-9]*x[0-9]*' "$err" | cut -d' ' -f2)
  python3 -c "e=$est; p=$peak_kb/1048576; print(f'| {\"$size\"} | $label | {e:.2f} GiB | {p:.2f} GiB | {e/p:.3f} |')"
}
echo "| output | conv | multi-scale | estimate | measured peak | estimate / peak |"
echo "|---|---|---|---|---|---|"
for s in "${sizes[@]}"; do
  for c in "${convs[@]}"; do
    for ms in "${multiscale[@]}"; do
      row "$c | $ms" --size "$s" --conv "$c" --multiscale "$ms" \
        --history 1 --iterations 2 --stage-iterations 2
    done
  done
done
echo
echo "| output | conv | L-BFGS history | estimate | measured peak | estimate / peak |"
echo "|---|---|---|---|---|---|"
for s in ${FILLED-512 1024}; do
  for c in "${convs[@]}"; do
    row "$c | 20 (full)" --size "$s" --conv "$c" --multiscale off --history 20 --iterations 22
  done
done
