#!/usr/bin/env bash
# An emulated cluster on this machine (docs/CLUSTER.md). H hosts, each a network namespace with
# its own hostname (UTS namespace), its own /dev/shm and /etc/hosts (mount namespace) and its own
# sshd, joined through a bridge by veth pairs; both ends of every host's veth pair are shaped with
# `tc qdisc ... tbf rate RATE`, so the link is the bottleneck. COMMAND runs on the first host with
# CLUSTER_HOSTS (a kolorun -H list) and CLUSTER_HOSTFILE set, then every namespace, link, process
# and file the script made is removed, also when COMMAND fails or the script is interrupted.
#
# Exit status: COMMAND's; 77 when this machine cannot host the cluster (not root, no network
# namespaces, no tc tbf, no sshd), with the reason on stdout; 2 on a usage error; 1 when the
# cluster could not be set up; 128+N when interrupted by signal N.
set -euo pipefail

readonly SKIP=77
readonly SUBNET=10.215.0          # inside the cluster's own namespaces only: no clash outside
readonly FIRST_ADDRESS=11         # h1 is $SUBNET.11, h2 .12, ...
readonly STATE_PREFIX=/tmp/kolo-cluster-
readonly BURST_MS=1                # tbf bucket: 1 ms of RATE (at least 64 KiB), few timer ticks
readonly TBF_LATENCY=20ms         # queue: at most this long at RATE
readonly GRACE_TENTHS=50          # after a forwarded signal, COMMAND has 5 s before the kill
PROG=$(basename "$0")
readonly PROG

HOSTS=""
SLOTS=""
RATE=""
KEEP=0
ACTION=run
TAG=""
ENTER_HOST=""
COMMAND=()
STATE=""
SSHD=""
COMMAND_PID=""
INTERRUPTED=""
CLUSTER_UP=0

usage() {
  cat <<EOF
usage: $PROG --hosts H --slots S --link RATE [--keep] [--] COMMAND [ARG...]
       $PROG --hosts H --slots S --link RATE --keep      build the cluster and leave it up
       $PROG --enter TAG HOST [COMMAND [ARG...]]          run COMMAND (default: bash) on a host
       $PROG --cleanup TAG                                remove a kept cluster

  --hosts H     emulated hosts h1..hH (1-64), each a network namespace with its own sshd
  --slots S     ranks per host in CLUSTER_HOSTS / CLUSTER_HOSTFILE (1-256)
  --link RATE   each host's link rate in both directions, in tc units: 2gbit, 500mbit, 10gbit
  --keep        leave the cluster up after COMMAND; prints how to enter and remove it

COMMAND runs on h1 (its network, hostname and /dev/shm) in the current directory, with
  CLUSTER_HOSTS     h1:S,h2:S,...   (kolorun -H "\$CLUSTER_HOSTS")
  CLUSTER_HOSTFILE  a hostfile      (kolorun --hostfile "\$CLUSTER_HOSTFILE")
  CLUSTER_NP        H*S
  CLUSTER_TAG       this cluster's tag (for --enter and --cleanup)
and PATH starting with an ssh that knows the hosts' keys. Example:
  $PROG --hosts 2 --slots 2 --link 2gbit -- \\
      sh -c 'build/bin/kolorun -H "\$CLUSTER_HOSTS" build/bin/kolo-bench allreduce -b 1K -e 64M'
Exit status: COMMAND's; 77 (reason on stdout) when this machine cannot host the cluster.
EOF
}

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage_error() {
  echo "$PROG: $*" >&2
  echo "run '$PROG --help' for usage" >&2
  exit 2
}

skip() {
  echo "SKIPPED: $*"
  exit "$SKIP"
}

is_count() {  # VALUE MIN MAX
  [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= $2 && 10#$1 <= $3))
}

parse_args() {
  while (($# > 0)); do
    case $1 in
      --hosts) HOSTS=${2:-}; shift 2 || usage_error "--hosts needs a value" ;;
      --slots) SLOTS=${2:-}; shift 2 || usage_error "--slots needs a value" ;;
      --link) RATE=${2:-}; shift 2 || usage_error "--link needs a value" ;;
      --keep) KEEP=1; shift ;;
      --cleanup) ACTION=cleanup; TAG=${2:-}; shift 2 || usage_error "--cleanup needs a TAG" ;;
      --enter)
        ACTION=enter; TAG=${2:-}; ENTER_HOST=${3:-}
        shift 3 || usage_error "--enter needs a TAG and a HOST"
        COMMAND=("$@"); break ;;
      -h|--help) usage; exit 0 ;;
      --) shift; COMMAND=("$@"); break ;;
      -*) usage_error "unknown option '$1'" ;;
      *) COMMAND=("$@"); break ;;
    esac
  done
  if [[ $ACTION != run ]]; then
    [[ $TAG =~ ^[0-9]+$ ]] || usage_error "TAG must be the number the kept cluster printed"
    return
  fi
  is_count "$HOSTS" 1 64 || usage_error "--hosts must be 1 to 64, not '$HOSTS'"
  is_count "$SLOTS" 1 256 || usage_error "--slots must be 1 to 256, not '$SLOTS'"
  # tc's rate units: bits (bit, kbit, mbit, gbit, tbit) or bytes (bps, kbps, ...) per second.
  [[ $RATE =~ ^[0-9]+(\.[0-9]+)?[kmgtKMGT]?(bit|bps)$ ]] ||
    usage_error "--link must be a tc rate such as 2gbit, 500mbit or 10gbit, not '$RATE'"
  [[ ! $RATE =~ ^[0.]+[a-zA-Z]+$ ]] || usage_error "--link must be above zero"
  ((${#COMMAND[@]} > 0 || KEEP)) || usage_error "no COMMAND (and no --keep)"
  HOSTS=$((10#$HOSTS))
  SLOTS=$((10#$SLOTS))
}

preflight() {
  ((EUID == 0)) || skip "network namespaces need root"
  local tool
  for tool in ip tc unshare nsenter mount ssh ssh-keygen; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
  env --default-signal=INT true 2>/dev/null || skip "env --default-signal needs coreutils 8.31+"
  SSHD=$(command -v sshd || true)
  [[ -n $SSHD ]] || { [[ -x /usr/sbin/sshd ]] && SSHD=/usr/sbin/sshd; } ||
    skip "sshd is not installed (openssh-server)"
}

# --- names: everything this script makes carries the tag, so cleanup finds it by name ---------
ns_name() { echo "kc$1-h$2"; }          # TAG INDEX
outer_veth() { echo "kc$1v$2"; }        # TAG INDEX (the inner end is eth0 in the namespace)
bridge_name() { echo "kcb$1"; }         # TAG
host_address() { echo "$SUBNET.$((FIRST_ADDRESS + $1 - 1))"; }  # INDEX

# The bucket in bytes: BURST_MS of RATE, at least 64 KiB. A smaller one costs a timer wake-up
# every few packets and caps the rate below RATE; a larger one lets longer bursts through unshaped.
burst_bytes() {  # RATE
  awk -v rate="$1" -v ms="$BURST_MS" 'BEGIN {
    match(rate, /^[0-9.]+/); value = substr(rate, 1, RLENGTH); unit = tolower(substr(rate, RLENGTH + 1))
    scale["k"] = 1e3; scale["m"] = 1e6; scale["g"] = 1e9; scale["t"] = 1e12
    prefix = substr(unit, 1, 1); if (prefix in scale) value *= scale[prefix]
    if (unit ~ /bit$/) value /= 8
    burst = int(value * ms / 1000); if (burst < 65536) burst = 65536
    print burst }'
}

shape() {  # [-n NS] DEV: tbf at RATE on DEV's egress
  local -a ipns=()
  if [[ $1 == -n ]]; then ipns=(ip netns exec "$2"); shift 2; fi
  "${ipns[@]}" tc qdisc add dev "$1" root tbf rate "$RATE" burst "$(burst_bytes "$RATE")" \
    latency "$TBF_LATENCY"
}

build_network() {
  local bridge i ns outer err
  bridge=$(bridge_name "$TAG")
  for ((i = 1; i <= HOSTS; i++)); do
    ns=$(ns_name "$TAG" "$i")
    if ! err=$(ip netns add "$ns" 2>&1); then
      ((i == 1)) && skip "cannot create a network namespace: $err"
      die "ip netns add $ns: $err"
    fi
  done
  ip link add "$bridge" type bridge
  ip link set "$bridge" up
  for ((i = 1; i <= HOSTS; i++)); do
    ns=$(ns_name "$TAG" "$i")
    outer=$(outer_veth "$TAG" "$i")
    ip link add "$outer" type veth peer name eth0 netns "$ns"
    ip link set "$outer" master "$bridge"
    ip link set "$outer" up
    ip -n "$ns" addr add "$(host_address "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    if ! err=$(shape "$outer" 2>&1); then
      ((i == 1)) && skip "tc cannot shape a veth with tbf: $err"
      die "tc on $outer: $err"
    fi
    shape -n "$ns" eth0 || die "tc on eth0 of $ns failed"
  done
}

write_files() {
  local i name address key
  mkdir -m 700 "$STATE"
  mkdir "$STATE/bin"
  ssh-keygen -q -t ed25519 -N "" -C "kolo-cluster-$TAG host" -f "$STATE/hostkey"
  ssh-keygen -q -t ed25519 -N "" -C "kolo-cluster-$TAG client" -f "$STATE/id"
  cp "$STATE/id.pub" "$STATE/authorized_keys"
  read -r -a key <"$STATE/hostkey.pub"
  printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$STATE/hosts"
  : >"$STATE/known_hosts"
  : >"$STATE/hostfile"
  for ((i = 1; i <= HOSTS; i++)); do
    name=h$i
    address=$(host_address "$i")
    echo "$address $name" >>"$STATE/hosts"
    echo "$name,$address ${key[0]} ${key[1]}" >>"$STATE/known_hosts"
    echo "$name slots=$SLOTS" >>"$STATE/hostfile"
    cat >"$STATE/sshd-$name.conf" <<EOF
ListenAddress $address
HostKey $STATE/hostkey
PidFile $STATE/sshd-$name.pid
AuthorizedKeysFile $STATE/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxStartups 1024
MaxSessions 1024
EOF
  done
  cat >"$STATE/ssh_config" <<EOF
Host *
  UserKnownHostsFile $STATE/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  IdentityFile $STATE/id
  IdentitiesOnly yes
  User root
  LogLevel ERROR
EOF
  printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$STATE/ssh_config" \
    >"$STATE/bin/ssh"
  chmod 755 "$STATE/bin/ssh"
  write_cluster_env
}

write_cluster_env() {
  local i list=""
  for ((i = 1; i <= HOSTS; i++)); do list+="${list:+,}h$i:$SLOTS"; done
  {
    echo "CLUSTER_HOSTS=$list"
    echo "CLUSTER_HOSTFILE=$STATE/hostfile"
    echo "CLUSTER_NP=$((HOSTS * SLOTS))"
    echo "CLUSTER_TAG=$TAG"
  } >"$STATE/cluster.env"
}

# Runs in the host's new namespaces (as `sh -c`): its hostname, a private /dev/shm, the cluster's
# /etc/hosts and ssh client config, then its sshd in the foreground.
# shellcheck disable=SC2016  # expanded by that sh, not here
readonly HOST_INIT='hostname "$1" &&
  mount -t tmpfs -o mode=1777,nosuid,nodev kolo-shm /dev/shm &&
  mount --bind "$2/hosts" /etc/hosts &&
  { [ ! -f /etc/ssh/ssh_config ] || mount --bind "$2/ssh_config" /etc/ssh/ssh_config; } &&
  exec "$3" -D -e -f "$2/sshd-$1.conf"'

start_hosts() {
  local i
  mkdir -p /run/sshd  # sshd's privilege-separation directory
  for ((i = 1; i <= HOSTS; i++)); do
    ip netns exec "$(ns_name "$TAG" "$i")" \
      unshare --uts --mount --propagation private -- \
      /bin/sh -c "$HOST_INIT" sh "h$i" "$STATE" "$SSHD" >"$STATE/h$i.log" 2>&1 &
    echo "$!" >"$STATE/h$i.pid"  # ip, unshare and sh exec: this is the host's sshd
  done
}

# Every host answers `ssh hN hostname` from h1 with its own name: names, keys, sshd and UTS work.
wait_for_hosts() {
  local i got deadline=$((SECONDS + 20))
  for ((i = 1; i <= HOSTS; i++)); do
    while true; do
      got=$(in_host "$TAG" h1 ssh -o ConnectTimeout=2 "h$i" hostname 2>&1) && break
      kill -0 "$(cat "$STATE/h$i.pid")" 2>/dev/null ||
        die "the sshd of h$i exited: $(cat "$STATE/h$i.log")"
      ((SECONDS < deadline)) || die "h$i does not answer over ssh: $got"
      sleep 0.2
    done
    [[ $got == "h$i" ]] || die "ssh h$i reached a host named '$got'"
  done
}

# in_host TAG HOST COMMAND...: COMMAND in HOST's network, UTS and mount namespaces, in the
# current directory, with the cluster's environment. Replaces the calling (sub)shell, so a
# background `in_host ... &` is COMMAND's own pid, and signals sent to it reach COMMAND.
in_host() {
  local tag=$1 host=$2 state=$STATE_PREFIX$1 pid
  shift 2
  [[ -f $state/$host.pid ]] || die "no host '$host' in cluster $tag ($state)"
  pid=$(cat "$state/$host.pid")
  local -a vars
  mapfile -t vars <"$state/cluster.env"
  # Background commands of a script ignore SIGINT; COMMAND gets it back (Ctrl-C stops it).
  exec nsenter --target "$pid" --net --uts --mount --wd="$PWD" -- \
    env --default-signal=INT,QUIT "PATH=$state/bin:$PATH" "${vars[@]}" "$@"
}

kill_namespace_processes() {  # SIGNAL NAMESPACE...
  local signal=$1 ns
  shift
  for ns in "$@"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill "-$signal" 2>/dev/null || true
  done
}

namespaces_with_processes() {  # NAMESPACE...: prints those with a live process
  local ns
  for ns in "$@"; do
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] || echo "$ns"
  done
}

# Removes everything of cluster TAG, found by name: processes in its namespaces (sshd, ranks,
# COMMAND; their /dev/shm segments go with their mount namespaces), namespaces, links, files.
cleanup_cluster() {
  local tag=$1 ns link tries
  local -a spaces links
  mapfile -t spaces < <(ip netns list 2>/dev/null | awk -v p="kc$tag-h" 'index($1, p) == 1 {print $1}')
  if ((${#spaces[@]} > 0)); then
    kill_namespace_processes TERM "${spaces[@]}"
    for ((tries = 0; tries < 30; tries++)); do
      [[ -n $(namespaces_with_processes "${spaces[@]}") ]] || break
      sleep 0.1
    done
    kill_namespace_processes KILL "${spaces[@]}"
    for ns in "${spaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  fi
  mapfile -t links < <(ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' |
    grep -E "^(kc${tag}v[0-9]+|kcb${tag})\$" || true)
  for link in "${links[@]}"; do ip link del "$link" 2>/dev/null || true; done
  rm -rf "$STATE_PREFIX$tag"
}

# print_kept, on_signal and on_exit run from traps.
# shellcheck disable=SC2317
print_kept() {
  cat <<EOF
cluster $TAG is up: hosts h1..h$HOSTS ($(host_address 1)...), links $RATE, state in $STATE
  environment:      $(tr '\n' ' ' <"$STATE/cluster.env")
  run on a host:    $0 --enter $TAG h1 [COMMAND...]   (default: bash; ssh h2 works from there)
  remove it:        $0 --cleanup $TAG
EOF
}

# shellcheck disable=SC2317
on_signal() {  # SIGNAL
  INTERRUPTED=$1
  if [[ -z $COMMAND_PID ]]; then
    echo "$PROG: interrupted (SIG$1) while setting up; removing the cluster" >&2
    exit $((128 + $(kill -l "$1")))
  fi
  kill "-$1" "$COMMAND_PID" 2>/dev/null || true
}

# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  trap '' INT TERM HUP  # cleanup runs to its end
  if ((KEEP && CLUSTER_UP)); then
    print_kept >&2
  else
    cleanup_cluster "$TAG"
  fi
  exit "$rc"
}

running() {  # PID: alive and not a zombie (`kill -0` also succeeds on a zombie)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

run_command() {
  local rc=0 tenths
  in_host "$TAG" h1 "${COMMAND[@]}" &
  COMMAND_PID=$!
  wait "$COMMAND_PID" || rc=$?
  if [[ -n $INTERRUPTED ]]; then
    for ((tenths = 0; tenths < GRACE_TENTHS; tenths++)); do
      running "$COMMAND_PID" || break
      sleep 0.1
    done
    rc=$((128 + $(kill -l "$INTERRUPTED")))
    echo "$PROG: interrupted (SIG$INTERRUPTED); removing the cluster" >&2
  fi
  return "$rc"
}

main() {
  parse_args "$@"
  case $ACTION in
    cleanup) cleanup_cluster "$TAG"; exit 0 ;;
    enter)
      ((${#COMMAND[@]} > 0)) || COMMAND=(bash)
      in_host "$TAG" "$ENTER_HOST" "${COMMAND[@]}" ;;
  esac
  preflight
  TAG=$$
  STATE=$STATE_PREFIX$TAG
  [[ -z $(ip netns list 2>/dev/null | awk -v p="kc$TAG-h" 'index($1, p) == 1') ]] ||
    die "namespaces of a cluster with tag $TAG exist: $PROG --cleanup $TAG"
  [[ ! -e $STATE ]] || die "$STATE exists: a cluster with tag $TAG is up? ($PROG --cleanup $TAG)"
  trap on_exit EXIT
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
  write_files
  build_network
  start_hosts
  wait_for_hosts
  CLUSTER_UP=1
  ((${#COMMAND[@]} > 0)) || exit 0
  local rc=0
  run_command || rc=$?
  exit "$rc"
}

main "$@"
