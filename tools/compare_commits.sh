#!/usr/bin/env bash
# Same bits across a refactor: builds two commits and runs one fixed set of commands with
# each, then compares every output byte for byte.
#
#   bash tools/compare_commits.sh OLD NEW        # e.g. 4d50af2 HEAD
#
# Each commit is built in its own worktree and target directory under $WORK (default
# /tmp/nstyle-compare), so rerunning reuses the builds. A binary can be given instead of a
# commit: `bash tools/compare_commits.sh /path/to/old-nstyle HEAD`.
# Exit status: 0 when every output is identical, 1 otherwise (the differing files are listed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: compare_commits.sh OLD NEW}
new=${2:?usage: compare_commits.sh OLD NEW}
work=${WORK:-/tmp/nstyle-compare}
mkdir -p "$work"

# Prints the path of a release binary for a commit (or the binary itself if a file is given).
build() {
  local rev=$1
  if [ -f "$rev" ] && [ -x "$rev" ]; then echo "$rev"; return; fi
  local sha
  sha=$(git -C "$repo" rev-parse --short=12 "$rev")
  local wt="$work/src-$sha"
  if [ ! -d "$wt" ]; then
    git -C "$repo" worktree add --detach -q "$wt" "$sha" >&2
  fi
  (cd "$wt" && CARGO_TARGET_DIR="$work/target-$sha" cargo build --release --quiet >&2)
  echo "$work/target-$sha/release/nstyle"
}

c=$repo/images/content/chelsea.jpg
s=$repo/images/style/starry_night.jpg
s2=$repo/images/style/wave.jpg

# Runs the fixed command set with binary $1 into directory $2.
run_all() {
  local bin=$1 out=$2
  rm -rf "$out" && mkdir -p "$out"
  local q=(--quiet --seed 1)
  "$bin" "$c" "$s" -o "$out/default256.png" --size 256 "${q[@]}"
  for m in gram mmd-linear mmd-poly mmd-gaussian bn; do
    "$bin" "$c" "$s" -o "$out/method-$m.png" --size 128 --iterations 30 --style-loss "$m" "${q[@]}"
  done
  "$bin" "$c" "$s2" -o "$out/fusion.png" --size 128 --iterations 30 \
    --style-loss mmd-linear:0.3,mmd-gaussian:0.7 "${q[@]}"
  "$bin" --style-only "$s" -o "$out/style-only.png" --size 128 --iterations 30 "${q[@]}"
  "$bin" "$c" "$s" -o "$out/multiscale724.png" --size 724 --iterations 20 \
    --stage-iterations 5 "${q[@]}" --log "$out/multiscale724.jsonl"
  "$bin" "$c" "$s" -o "$out/adam.png" --size 128 --iterations 30 --optimizer adam "${q[@]}"
  "$bin" "$c" "$s" -o "$out/im2col.png" --size 128 --iterations 30 --conv im2col "${q[@]}"
  "$bin" "$c" "$s" -o "$out/init-content-16bit.png" --size 128 --iterations 20 --init content \
    --16bit --style-weight 2 --style-layers relu1_1:0.5,relu3_1,relu5_1 "${q[@]}"
  "$bin" losses --content "$c" --style "$s" --image "$out/method-gram.png" --size 128 \
    --style-loss gram,mmd-linear,mmd-poly,mmd-gaussian,bn \
    --grad-out "$out/grad.npy" >"$out/losses.json"
}

old_bin=$(build "$old")
new_bin=$(build "$new")
echo "old: $old_bin"
echo "new: $new_bin"
run_all "$old_bin" "$work/out-old"
run_all "$new_bin" "$work/out-new"

status=0
count=0
for f in "$work"/out-old/*; do
  name=$(basename "$f")
  count=$((count + 1))
  if [ "${name##*.}" = jsonl ]; then
    # The log's schema may change; compare its numbers (objective per iteration) instead.
    if ! diff -q <(grep -o '"objective":[^,}]*' "$f") \
                 <(grep -o '"objective":[^,}]*' "$work/out-new/$name") >/dev/null; then
      echo "DIFFERS: $name (objective values)"; status=1
    fi
  elif ! cmp -s "$f" "$work/out-new/$name"; then
    echo "DIFFERS: $name"; status=1
  fi
done
[ $status = 0 ] && echo "identical: all $count outputs"
exit $status
