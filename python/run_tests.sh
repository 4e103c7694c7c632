#!/usr/bin/env bash
# Builds the Python package in a fresh virtual environment and runs its tests against the
# nstyle binary built from the same checkout. Needs Rust, python3 (3.9+) and PyPI.
#   bash python/run_tests.sh [pytest arguments]
# The environment lives in target/python-venv (made anew each run); the extension is
# compiled into the workspace's target/, so a rerun rebuilds only what changed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/python-venv"
start=$SECONDS

rm -rf "$venv"
export PATH="$venv/bin:$PATH"   # maturin's build hook runs the maturin binary
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" numpy pytest
echo "run_tests: venv with maturin, numpy, pytest in $((SECONDS - start)) s"

# The command line the tests compare against.
t=$SECONDS
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
echo "run_tests: nstyle binary in $((SECONDS - t)) s"

# The package, as `pip install ./python` builds it (maturin from the venv).
t=$SECONDS
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation "$root/python"
echo "run_tests: package built and installed in $((SECONDS - t)) s"

t=$SECONDS
cd "$root/python"
set +e
NSTYLE_BIN="$root/target/release/nstyle" "$venv/bin/python" -m pytest -p no:cacheprovider tests "$@"
rc=$?
set -e
echo "run_tests: pytest in $((SECONDS - t)) s (exit $rc); all in $((SECONDS - start)) s"
if [ "$rc" -eq 5 ]; then
    echo "run_tests: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
