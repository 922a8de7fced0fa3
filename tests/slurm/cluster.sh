#!/usr/bin/env bash
# A private Slurm cluster on this machine for Kolo's Slurm tests (docs/SLURM.md): munged,
# slurmctld and NODES slurmd, each daemon in its own network namespace joined through a bridge
# on 10.216.0.0/24 (tests/cluster/run.sh uses 10.215.0.0/24 and kc* names, so both can run at
# once), or, where namespaces cannot be made, one slurmd on loopback. Everything lives under a
# private temporary directory; node names resolve through a private /etc/hosts (the whole cluster
# runs in its own mount namespace).
#
# COMMAND runs beside the controller (its network namespace) with SLURM_CONF set, and
# SLURM_TEST_NODES (node count), SLURM_TEST_STATE (the state directory) and SLURM_TEST_CLUSTER
# (the cluster's name: every Kolo job id and shared-memory segment of its jobs contains it).
# Afterwards every job is cancelled, every process in the cluster's namespaces and every daemon
# is killed, and the namespaces, the bridge, the state directory and the jobs' /dev/shm segments
# are removed, also when COMMAND fails or the script is interrupted.
#
# Exit status: COMMAND's; 77 (reason on stdout) when this machine cannot run Slurm here (not
# root, Slurm or munge not installed); 1 when the cluster did not come up; 2 on a usage error.
set -euo pipefail

readonly SKIP=77
readonly SUBNET=10.216.0
readonly CONTROLLER_ADDRESS=$SUBNET.10
readonly FIRST_NODE_ADDRESS=11   # kn1 is $SUBNET.11, kn2 .12, ...
PROG=$(basename "$0")
readonly PROG

NODES=2
CPUS=4
COMMAND=()
STATE=""
TAG=""
NAMESPACES=1
CONTROLLER_UP=0
DAEMON_PIDS=()
SLURM_TEST_CLUSTER=""

usage() {
  cat <<EOF
usage: $PROG [--nodes N] [--cpus C] [--] COMMAND [ARG...]
  --nodes N   emulated Slurm nodes kn1..knN (1-8, default 2), each slurmd in its own network
              namespace; one node on loopback where namespaces are unavailable
  --cpus C    CPUs each node declares (default 4; jobs may overcommit)
Example:
  $PROG -- sh -c 'timeout 60 srun -N 2 --ntasks-per-node=2 --mpi=none hostname'
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

skip() {
  echo "SKIPPED: $*"
  exit "$SKIP"
}

parse_args() {
  while (($# > 0)); do
    case $1 in
      --nodes) NODES=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
      --cpus) CPUS=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
      -h|--help) usage; exit 0 ;;
      --) shift; COMMAND=("$@"); break ;;
      -*) echo "$PROG: unknown option '$1'" >&2; exit 2 ;;
      *) COMMAND=("$@"); break ;;
    esac
  done
  [[ $NODES =~ ^[1-8]$ ]] || { echo "$PROG: --nodes must be 1 to 8" >&2; exit 2; }
  [[ $CPUS =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: --cpus must be a positive count" >&2; exit 2; }
  ((${#COMMAND[@]} > 0)) || { echo "$PROG: no COMMAND" >&2; exit 2; }
}

preflight() {
  ((EUID == 0)) || skip "the Slurm daemons and network namespaces need root"
  local tool
  for tool in slurmctld slurmd srun scancel sinfo munged unshare nsenter ip; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
      skip "$tool is not installed (.ci/install-deps.sh installs Slurm and munge)"
  done
}

# Each namespace is held by a `sleep` started with `unshare --net` (no /run/netns entry: it
# disappears with its last process); NS_PIDS[0] is the controller's, NS_PIDS[i] node i's.
NS_PIDS=()
node_address() {
  if ((NAMESPACES)); then echo "$SUBNET.$((FIRST_NODE_ADDRESS + $1 - 1))"; else echo 127.0.0.1; fi
}
bridge_name() { echo "ksb$TAG"; }
# Runs a command in namespace INDEX (0: controller), or directly without namespaces. nsenter,
# not `ip netns exec`: that remounts /sys, which breaks slurmd.
in_ns() {  # INDEX COMMAND...
  local index=$1
  shift
  if ((NAMESPACES)); then nsenter --net="/proc/${NS_PIDS[$index]}/ns/net" -- "$@"; else "$@"; fi
}

new_namespace() {
  unshare --net sleep infinity &
  local pid=$! i
  for ((i = 0; i < 50; i++)); do
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) != "$(readlink /proc/$$/ns/net)" ]] && break
    sleep 0.02
  done
  NS_PIDS+=("$pid")
}

build_network() {
  local err i bridge address
  if ! err=$(unshare --net true 2>&1); then
    echo "$PROG: network namespaces unavailable ($err): one node on loopback" >&2
    NAMESPACES=0
    NODES=1
    return
  fi
  bridge=$(bridge_name)
  ip link add "$bridge" type bridge
  ip link set "$bridge" up
  for ((i = 0; i <= NODES; i++)); do
    new_namespace
    if ((i == 0)); then address=$CONTROLLER_ADDRESS; else address=$(node_address "$i"); fi
    ip link add "ks${TAG}v$i" type veth peer name eth0 netns "${NS_PIDS[$i]}"
    ip link set "ks${TAG}v$i" master "$bridge"
    ip link set "ks${TAG}v$i" up
    in_ns "$i" ip addr add "$address/24" dev eth0
    in_ns "$i" ip link set eth0 up
    in_ns "$i" ip link set lo up
  done
}

write_config() {
  local i controller=$CONTROLLER_ADDRESS port_base=6817
  if ((!NAMESPACES)); then
    controller=127.0.0.1
    port_base=$((20000 + TAG % 10000 * 2))
  fi
  mkdir -p "$STATE/munge" "$STATE/ctld" "$STATE/spool" "$STATE/tmp" "$STATE/log"
  chmod 711 "$STATE/munge"
  head -c 1024 /dev/urandom >"$STATE/munge/munge.key"
  chmod 400 "$STATE/munge/munge.key"
  cp /etc/hosts "$STATE/hosts"
  cat >"$STATE/slurm.conf" <<EOF
ClusterName=$SLURM_TEST_CLUSTER
SlurmctldHost=$(hostname -s)($controller)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$STATE/munge/munge.sock
CredType=cred/munge
SlurmctldPort=$port_base
SlurmdPort=$((port_base + 1))
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/ctld.pid
SlurmdPidFile=$STATE/spool/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$STATE/tmp/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmdParameters=config_overrides
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=10
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
MinJobAge=2
EOF
  for ((i = 1; i <= NODES; i++)); do
    echo "$(node_address "$i") kn$i" >>"$STATE/hosts"
    mkdir -p "$STATE/spool/kn$i" "$STATE/tmp/kn$i"
    echo "NodeName=kn$i NodeAddr=$(node_address "$i") CPUs=$CPUS State=UNKNOWN" \
      >>"$STATE/slurm.conf"
  done
  echo "PartitionName=kolo Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE" \
    >>"$STATE/slurm.conf"
  # Node names resolve here and for every daemon and job of the cluster (this mount namespace).
  mount --bind "$STATE/hosts" /etc/hosts
}

start_daemons() {
  local i
  munged --foreground --force --key-file "$STATE/munge/munge.key" \
    --socket "$STATE/munge/munge.sock" --pid-file "$STATE/munge/munged.pid" \
    --log-file "$STATE/log/munged.log" --seed-file "$STATE/munge/munge.seed" \
    >"$STATE/log/munged.out" 2>&1 &
  DAEMON_PIDS+=($!)
  for ((i = 0; i < 50; i++)); do
    [[ -S $STATE/munge/munge.sock ]] && break
    sleep 0.1
  done
  [[ -S $STATE/munge/munge.sock ]] || die "munged did not start: $(tail -3 "$STATE/log/munged.log")"
  in_ns 0 slurmctld -D -i -f "$STATE/slurm.conf" >"$STATE/log/slurmctld.out" 2>&1 &
  DAEMON_PIDS+=($!)
  for ((i = 1; i <= NODES; i++)); do
    in_ns "$i" slurmd -D -N "kn$i" -f "$STATE/slurm.conf" \
      >"$STATE/log/slurmd-kn$i.out" 2>&1 &
    DAEMON_PIDS+=($!)
  done
}

wait_ready() {
  local idle deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    idle=$(in_ns 0 timeout 2 sinfo -h -N -o '%N %T' 2>/dev/null | grep -cE ' idle$' || true)
    if ((idle == NODES)); then
      CONTROLLER_UP=1
      return 0
    fi
    sleep 0.2
  done
  echo "$PROG: the cluster did not come up within 20 s; sinfo says:" >&2
  in_ns 0 sinfo -N >&2 || true
  tail -5 "$STATE"/log/*.log >&2 || true
  return 1
}

# --- teardown ------------------------------------------------------------------------------------
kill_namespace_processes() {  # SIGNAL: every process in the cluster's namespaces
  local holder ino path pid
  local -A ours=() holders=()
  ((NAMESPACES)) || return 0
  for holder in "${NS_PIDS[@]}"; do
    holders[$holder]=1
    ino=$(stat -L -c %i "/proc/$holder/ns/net" 2>/dev/null) && ours[$ino]=1
  done
  # One stat for every process on the machine (a readlink per process took seconds on a busy one).
  while read -r ino path; do
    pid=${path#/proc/}
    pid=${pid%%/*}
    [[ -n ${ours[$ino]:-} && -z ${holders[$pid]:-} ]] && kill "-$1" "$pid" 2>/dev/null
  done < <(stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null)
  return 0
}

cleanup() {
  local status=$? pid i
  trap '' INT TERM HUP
  if ((CONTROLLER_UP)); then
    cancel_jobs || true
  fi
  if ((status != 0)) && [[ -n $STATE && -d $STATE/log ]]; then
    echo "$PROG: exit status $status; the daemons' last log lines:" >&2
    tail -n 8 "$STATE"/log/* >&2 2>/dev/null || true
  fi
  kill_namespace_processes TERM
  for pid in "${DAEMON_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do
    local alive=0
    for pid in "${DAEMON_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  kill_namespace_processes KILL
  for pid in "${DAEMON_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # Without namespaces, the jobs' processes are found by the state directory in their command
  # line or environment (slurmstepd names its spool directory).
  if ((!NAMESPACES)) && [[ -n $STATE ]]; then pkill_by_state; fi
  for pid in "${NS_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((NAMESPACES)) && [[ -n $TAG ]]; then ip link del "$(bridge_name)" 2>/dev/null || true; fi
  if [[ -n $SLURM_TEST_CLUSTER ]]; then
    rm -f /dev/shm/*"$SLURM_TEST_CLUSTER"* 2>/dev/null || true
  fi
  if mountpoint -q /etc/hosts 2>/dev/null; then umount /etc/hosts 2>/dev/null || true; fi
  [[ -n $STATE ]] && rm -rf "$STATE"
  exit "$status"
}

cancel_jobs() {
  in_ns 0 timeout 2 scancel --quiet --user root 2>/dev/null || return 1
  # Give slurmd a moment to end the steps it owns before everything is killed.
  local i
  for ((i = 0; i < 20; i++)); do
    [[ -z $(in_ns 0 timeout 1 squeue -h -o %i 2>/dev/null) ]] && return 0
    sleep 0.1
  done
}

pkill_by_state() {
  local proc pid
  for proc in /proc/[0-9]*; do
    pid=${proc#/proc/}
    [[ $pid == "$$" ]] && continue
    if grep -qsF "$STATE" "/proc/$pid/cmdline" "/proc/$pid/environ" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

main() {
  parse_args "$@"
  preflight
  if [[ ${SLURM_TEST_INNER:-} != 1 ]]; then
    # A private mount namespace for /etc/hosts; the inner script does everything else.
    SLURM_TEST_INNER=1 exec unshare --mount --propagation private -- "$0" "$@"
  fi
  unset SLURM_TEST_INNER
  TAG=$(($$ % 100000))
  SLURM_TEST_CLUSTER="kolo$TAG"
  export SLURM_TEST_CLUSTER
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  STATE=$(mktemp -d "/tmp/kolo-slurm-$TAG.XXXXXX")
  chmod 755 "$STATE"
  export SLURM_CONF=$STATE/slurm.conf
  build_network
  write_config
  start_daemons
  wait_ready || exit 1
  export SLURM_TEST_NODES=$NODES SLURM_TEST_STATE=$STATE
  local status=0
  in_ns 0 "${COMMAND[@]}" || status=$?
  return "$status"
}

main "$@"
