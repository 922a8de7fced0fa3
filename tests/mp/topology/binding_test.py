#!/usr/bin/python3
"""Rank binding and topology reports through kolorun.

Usage: binding_test.py KOLORUN KOLO_BENCH CASE.

Ranks report the CPUs the kernel lets them run on (/proc/self/status Cpus_allowed_list) and
what kolo-bench --topology says about their binding; the driver checks them against the
machine's own lists in /sys. Every run has a deadline.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from case_driver import CaseFailed, check, run_case  # noqa: E402

KOLORUN = None
KOLO_BENCH = None
DEADLINE_S = 30


def parse_list(text):
    """'0-3,8' -> {0, 1, 2, 3, 8}"""
    out = set()
    for item in text.strip().split(","):
        if not item:
            continue
        first, _, last = item.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def allowed_cpus():
    return set(os.sched_getaffinity(0))


def physical_cores(cpus):
    """Distinct (package, core) among `cpus`."""
    cores = set()
    for cpu in cpus:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
        with open(base + "physical_package_id") as f, open(base + "core_id") as g:
            cores.add((f.read().strip(), g.read().strip()))
    return cores


def numa_nodes():
    """{node: cpus} restricted to the allowed CPUs; one node with every CPU when /sys has none."""
    nodes = {}
    root = "/sys/devices/system/node"
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        m = re.fullmatch(r"node(\d+)", name)
        if m:
            with open(f"{root}/{name}/cpulist") as f:
                cpus = parse_list(f.read()) & allowed_cpus()
            if cpus:
                nodes[int(m.group(1))] = cpus
    return nodes or {0: allowed_cpus()}


def run(args):
    try:
        proc = subprocess.run([KOLORUN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=DEADLINE_S)
    except subprocess.TimeoutExpired as e:
        raise CaseFailed(f"kolorun {args} did not finish within {DEADLINE_S} s: {e.stdout!r}")
    out = proc.stdout.decode(errors="replace")
    check(proc.returncode == 0, f"kolorun {args}: exit code {proc.returncode}\nstdout={out}\n"
                                f"stderr={proc.stderr.decode(errors='replace')}")
    return out


def allowed_by_rank(np, bind):
    out = run(["-np", str(np), "--bind-to", bind, "sh", "-c",
               "grep Cpus_allowed_list /proc/self/status"])
    by_rank = {}
    for line in out.splitlines():
        m = re.fullmatch(r"\[(\d+)\]<stdout>:Cpus_allowed_list:\s*(\S+)", line)
        if m:
            by_rank[int(m.group(1))] = parse_list(m.group(2))
    check(sorted(by_rank) == list(range(np)), f"ranks seen: {sorted(by_rank)} in {out}")
    return by_rank


def case_bind_core():
    cores = physical_cores(allowed_cpus())
    np = min(2, len(cores))
    by_rank = allowed_by_rank(np, "core")
    seen = set()
    for rank, cpus in by_rank.items():
        # One core: all its hardware threads, which are one physical (package, core).
        check(len(physical_cores(cpus)) == 1,
              f"rank {rank} may run on {sorted(cpus)}: not one core")
        core = physical_cores(cpus).pop()
        check(core not in seen, f"rank {rank} shares core {core} with another rank")
        seen.add(core)


def case_bind_numa():
    nodes = numa_nodes()
    np = 2
    by_rank = allowed_by_rank(np, "numa")
    order = sorted(nodes)
    for rank, cpus in by_rank.items():
        want = nodes[order[rank * len(order) // np]]
        check(cpus == want, f"rank {rank} may run on {sorted(cpus)}, expected NUMA node cpus "
                            f"{sorted(want)}")


def case_bind_none():
    by_rank = allowed_by_rank(2, "none")
    for rank, cpus in by_rank.items():
        check(cpus == allowed_cpus(),
              f"rank {rank} was bound to {sorted(cpus)} with --bind-to none")


def case_oversubscribed_default():
    np = len(physical_cores(allowed_cpus())) + 1
    out = run(["-np", str(np), "sh", "-c", "grep Cpus_allowed_list /proc/self/status"])
    lists = re.findall(r"Cpus_allowed_list:\s*(\S+)", out)
    check(len(lists) == np, f"expected {np} lines: {out}")
    for text in lists:
        check(parse_list(text) == allowed_cpus(),
              f"with more ranks than cores nothing should be bound, got {text}")


def bench_rows(out):
    """{rank: (host, numa, bound-to text)} from kolo-bench --topology's table."""
    rows = {}
    for line in out.splitlines():
        m = re.fullmatch(r"\[0\]<stdout>:#\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), m.group(3), m.group(4))
    return rows


def case_bench_topology_core():
    cores = physical_cores(allowed_cpus())
    np = min(2, len(cores))
    out = run(["-np", str(np), "--bind-to", "core", KOLO_BENCH, "--topology"])
    rows = bench_rows(out)
    check(sorted(rows) == list(range(np)), f"rank rows {sorted(rows)} in\n{out}")
    named = set()
    for rank, (_, numa, where) in rows.items():
        m = re.fullmatch(r"core (\d+) \(PUs? ([\d,-]+)\), NUMA (\d+)", where)
        check(m, f"rank {rank} is not reported bound to exactly one core: {where!r}")
        check(numa == m.group(3), f"rank {rank}: NUMA column {numa} vs {where!r}")
        named.add(m.group(1))
    check(len(named) == np, f"ranks share a core: {rows}")
    check(re.search(r"# cpus\s+: \d+ packages?, \d+ NUMA nodes?, "
                    rf"{len(cores)} cores? / {len(allowed_cpus())} PUs?", out),
          f"core/PU counts differ from /sys ({len(cores)} / {len(allowed_cpus())}):\n{out}")
    if np > 1:
        check("ring order    : 0 -shm-> 1 -shm-> 0" in out, f"ring line missing:\n{out}")


def case_bench_topology_hosts():
    out = run(["-np", "4", "-H", "127.0.0.1:2,127.0.0.2:2", "--bind-to", "none", KOLO_BENCH,
               "--topology"])
    rows = bench_rows(out)
    check([rows[r][0] for r in range(4)] == ["127.0.0.1"] * 2 + ["127.0.0.2"] * 2,
          f"hosts per rank: {rows}")
    for rank, (_, numa, where) in rows.items():
        check(where.startswith("not bound ("), f"rank {rank} bound with --bind-to none: {where}")
    check("0 -shm-> 1 -tcp-> 2 -shm-> 3 -tcp-> 0 (2 host and 0 NUMA crossings)" in out,
          f"ring line:\n{out}")


def case_check_build_topology():
    out = run(["--check-build"])
    check("[X] hwloc" in out or "[ ] hwloc" in out, out)
    check("Topology of this machine (kolo-bench --topology):" in out, out)
    cores = len(physical_cores(allowed_cpus()))
    check(re.search(rf"# cpus\s+: .* {cores} cores? / ", out), f"expected {cores} cores:\n{out}")
    check("# caches        : L1 " in out, out)
    check("#    0  " in out and "not bound" in out, out)


def main():
    global KOLORUN, KOLO_BENCH
    KOLORUN, KOLO_BENCH, case = sys.argv[1], sys.argv[2], sys.argv[3]
    return run_case(globals(), case)


if __name__ == "__main__":
    sys.exit(main())
