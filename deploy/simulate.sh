#!/usr/bin/env bash
# Runs the deploy/ recipes on this machine with the schedulers' variables set by hand:
# the Kubernetes Indexed Job's command (read from k8s-indexed-job.yaml) as pods 0 and 1
# of 2, the Slurm script as array tasks 0 and 1 of 2, and (when PYTHON can import ray
# and nstyle) the Ray script; each must give the bytes of one unsharded `nstyle batch`.
#   bash deploy/simulate.sh            # needs target/release/nstyle (cargo build --release)
#   PYTHON=venv/bin/python bash deploy/simulate.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
NSTYLE="${NSTYLE:-$root/target/release/nstyle}"
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
img="$root/images"
small=(--size=64 --iterations=2)

manifest() {  # four tiny jobs in $1
    mkdir -p "$1"
    cat > "$1/jobs.csv" <<CSV
content,style,output,style_weight
$img/content/chelsea.jpg,$img/style/starry_night.jpg,out/a.png,
$img/content/coffee.jpg,$img/style/wave.jpg,out/b.png,2
$img/content/astronaut.jpg,$img/style/the_scream.jpg,out/c.png,
$img/content/chelsea.jpg,$img/style/composition_vii.jpg,out/d.png,
CSV
}
same() {  # the outputs of $1 and $2 are equal byte for byte
    for f in a b c d; do cmp "$1/out/$f.png" "$2/out/$f.png"; done
    echo "simulate: $3: the four outputs equal the unsharded run's"
}
clean_env() { env -u JOB_COMPLETION_INDEX -u NSTYLE_SHARD_COUNT -u SLURM_ARRAY_TASK_ID \
    -u SLURM_ARRAY_TASK_COUNT -u SLURM_ARRAY_TASK_MIN "$@"; }

# The bytes depend on the thread count (the work split, and so the order of float sums,
# follows it), so each recipe is compared with an unsharded run on as many threads.
for t in 1 2; do
    manifest "$work/ref$t"
    clean_env "$NSTYLE" batch "$work/ref$t/jobs.csv" "${small[@]}" --threads $t --quiet
done

# Kubernetes: the container's command and env from the YAML, with this machine's paths.
manifest "$work/k8s"
mapfile -t cmd < <("$PYTHON" - "$root/deploy/k8s-indexed-job.yaml" "$work/k8s/jobs.csv" "$NSTYLE" <<'PY'
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
c = job["spec"]["template"]["spec"]["containers"][0]
assert job["spec"]["completionMode"] == "Indexed"
count = [e["value"] for e in c["env"] if e["name"] == "NSTYLE_SHARD_COUNT"][0]
assert int(count) == job["spec"]["completions"], "NSTYLE_SHARD_COUNT != completions"
args = [sys.argv[3] if a == "nstyle" else sys.argv[2] if a == "/data/jobs.csv" else a
        for a in c["command"] if not a.startswith("--size=")]
print("\n".join(args))
PY
)
for i in 0 1; do
    clean_env JOB_COMPLETION_INDEX=$i NSTYLE_SHARD_COUNT=2 "${cmd[@]}" "${small[@]}" --quiet
done
same "$work/ref2" "$work/k8s" "Kubernetes Indexed Job (JOB_COMPLETION_INDEX 0, 1 of 2)"

# Slurm: the array script as tasks 0 and 1 of 2.
manifest "$work/slurm"
for i in 0 1; do
    clean_env SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=2 SLURM_CPUS_PER_TASK=1 \
        NSTYLE="$NSTYLE" bash "$root/deploy/slurm-array.sh" "$work/slurm/jobs.csv" "${small[@]}" --quiet
done
same "$work/ref1" "$work/slurm" "Slurm array (SLURM_ARRAY_TASK_ID 0, 1 of 2)"

# Ray: a local cluster mapping the Python package over the rows.
if "$PYTHON" -c "import ray, nstyle" 2>/dev/null; then
    manifest "$work/ray"
    "$PYTHON" "$root/deploy/ray_stylize.py" "$work/ray/jobs.csv" --set size=64 --set iterations=2 \
        --cpus-per-task 1 2> "$work/ray.log" || { cat "$work/ray.log"; exit 1; }
    same "$work/ref1" "$work/ray" "Ray (local cluster, 1 CPU and thread per task)"
else
    echo "simulate: Ray skipped ($PYTHON cannot import ray and nstyle)"
fi
