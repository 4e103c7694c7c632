#!/usr/bin/env bash
# A Slurm job array running `nstyle batch` shards over a shared file system: task I of N
# runs the manifest rows whose index mod N == I (nstyle reads SLURM_ARRAY_TASK_ID and
# SLURM_ARRAY_TASK_COUNT itself). Resubmitting redoes only rows without an output.
#
#   sbatch deploy/slurm-array.sh /shared/project/jobs.csv --size 512
#
# Change for your cluster: --array (0-(N-1): N shards), --cpus-per-task, --mem (and the
# --max-memory below to match it), --time, --partition, and where nstyle is (NSTYLE).
#SBATCH --job-name=nstyle
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=04:00:00
#SBATCH --output=nstyle-%A_%a.log
set -euo pipefail

MANIFEST="${1:?usage: sbatch slurm-array.sh MANIFEST [nstyle batch options]}"
shift
NSTYLE="${NSTYLE:-nstyle}"
# nstyle checks its memory estimate against the node's free memory, which does not know
# the job's --mem: give the allocation (in GiB, a little under --mem) explicitly.
MAX_MEMORY_GIB="${MAX_MEMORY_GIB:-7}"

exec "$NSTYLE" batch "$MANIFEST" \
    --threads "${SLURM_CPUS_PER_TASK:-1}" \
    --max-memory "$MAX_MEMORY_GIB" \
    "$@"
