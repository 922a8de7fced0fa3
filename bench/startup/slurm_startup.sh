#!/usr/bin/env bash
# Startup time of a job started directly by srun: wall time from `srun -N 2 -n 4` to the exit
# of a program that initializes, runs one allreduce and finishes, for Kolo (PMIx bootstrap and
# the plain Slurm step) and for Open MPI (srun --mpi=pmix), interleaved, REPEATS runs each;
# prints each run and the medians. Runs on the private cluster of tests/slurm/cluster.sh:
#   tests/slurm/cluster.sh --nodes 2 -- bench/startup/slurm_startup.sh BUILD_DIR [REPEATS]
# Open MPI is told to use TCP between ranks (OMPI_MCA_btl=tcp,self): the emulated nodes share one
# kernel host name, which its shared-memory transport would take for one node.
set -euo pipefail
build=${1:?usage: slurm_startup.sh BUILD_DIR [REPEATS]}
repeats=${2:-7}
[[ -n ${SLURM_TEST_STATE:-} ]] || { echo "run me under tests/slurm/cluster.sh" >&2; exit 2; }
kolo=$build/bin/kolo_first_allreduce
mpi=$build/bin/mpi_first_allreduce
export KOLO_SECRET_FILE=$SLURM_TEST_STATE/secret OMPI_MCA_btl=tcp,self
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

run_once() {  # LABEL MPI_PLUGIN PROGRAM: prints "LABEL SECONDS"
  local start end
  start=$(date +%s.%N)
  timeout -k 5 60 srun -N 2 -n 4 --overcommit --mpi="$2" "$3" >"$SLURM_TEST_STATE/run.out" 2>&1 ||
    { cat "$SLURM_TEST_STATE/run.out" >&2; echo "$1 failed" >&2; exit 1; }
  grep -q "first allreduce over 4 ranks: 10 (want 10)" "$SLURM_TEST_STATE/run.out" ||
    { cat "$SLURM_TEST_STATE/run.out" >&2; echo "$1 printed no correct result" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v l="$1" -v s="$start" -v e="$end" 'BEGIN {printf "%s %.3f\n", l, e - s}'
}

results=$SLURM_TEST_STATE/startup.txt
: >"$results"
for ((i = 0; i < repeats; i++)); do
  run_once kolo_pmix pmix "$kolo" | tee -a "$results"
  run_once kolo_srun none "$kolo" | tee -a "$results"
  run_once openmpi_pmix pmix "$mpi" | tee -a "$results"
done
echo "# median seconds from srun to the end of the first allreduce (N=$repeats, 2 nodes x 2 tasks)"
for label in kolo_pmix kolo_srun openmpi_pmix; do
  awk -v l="$label" '$1 == l {print $2}' "$results" | sort -n |
    awk -v l="$label" '{v[NR] = $1} END {printf "%-13s %.3f\n", l, v[int((NR + 1) / 2)]}'
done
