#!/usr/bin/env bash
# Regenerates the paper's four figures (docs/FIGURES.md) at the default settings into
# target/figures/figN/ (each should take under 15 minutes on 2 cores; rerun to resume an
# interrupted one) and copies each sheet to docs/figures/figureN.png. Arguments are passed
# to every figure, e.g. `bash tools/figures.sh --size 128`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p docs/figures
for n in 1 2 3 4; do
  target/release/nstyle figure "$n" --out "target/figures/fig$n" "$@"
  cp "target/figures/fig$n/sheet.png" "docs/figures/figure$n.png"
  echo "wrote docs/figures/figure$n.png"
done
