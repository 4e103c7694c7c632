#!/usr/bin/env bash
# Rebuilds the README gallery: one content photo and one painting through every style loss
# and one fusion, with the default settings except size (256 px). Rerun: bash tools/gallery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/nstyle
out=docs/gallery
mkdir -p "$out"
content=images/content/chelsea.jpg
style=images/style/starry_night.jpg
for spec in gram mmd-linear mmd-poly mmd-gaussian bn coral w2 sliced-wasserstein mmd-linear:0.5,mmd-gaussian:0.5; do
  name=$(echo "$spec" | tr ':,' '__')
  "$bin" "$content" "$style" -o "$out/$name.jpg" --size 256 --style-loss "$spec" --seed 0 --quiet
  echo "wrote $out/$name.jpg"
done
"$bin" --style-only "$style" -o "$out/texture_gram.jpg" --size 256 --seed 0 --quiet
echo "wrote $out/texture_gram.jpg"
