#!/usr/bin/env bash
# Rebuilds the README gallery at 512 px with the default settings: one content photo and one
# painting through every style loss and one fusion, a texture (style only), the photo's
# colours kept, and two paintings blended. Rerun: bash tools/gallery.sh (about 30 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=${NSTYLE:-target/release/nstyle}
out=docs/gallery
mkdir -p "$out"
content=images/content/chelsea.jpg
style=images/style/starry_night.jpg
run() { # NAME ARGS...
  local name=$1; shift
  "$bin" "$@" -o "$out/$name.jpg" --size 512 --seed 0 --quiet
  echo "wrote $out/$name.jpg"
}
for spec in gram mmd-linear mmd-poly mmd-gaussian bn coral w2 sliced-wasserstein mmd-linear:0.5,mmd-gaussian:0.5; do
  run "$(echo "$spec" | tr ':,' '__')" "$content" "$style" --style-loss "$spec"
done
run texture_gram --style-only "$style"
run preserve_luminance "$content" "$style" --preserve-colors luminance
run blend_starry_wave "$content" "$style" images/style/wave.jpg --style-blend 0.5,0.5
