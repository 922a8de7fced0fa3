#!/usr/bin/python3
"""Live metrics' overhead: the 8-byte allreduce through the runtime (kolo-bench --path runtime)
and the ResNet-50 workload step (kolo-bench --workload resnet50), each run with metrics off and
with KOLO_METRICS_PORT set, alternating off/on so that load drifts hit both alike. Prints every
run, the median of each side and on/off - 1, the median over the pairs of each pair's on/off - 1
(robust where the machine switches between a fast and a slow mode from run to run), and the load
averages before and after.

  bench/metrics/overhead.py BUILD_DIR [PAIRS] [--baseline BASE_BUILD_DIR] [--only 8-byte|step]

(default 5 pairs per benchmark). With --baseline, a build of an earlier commit runs in the same
rounds (base off, base on, BUILD off, BUILD on, round after round), and each benchmark also
prints BUILD-on / base-on - 1: what a change made to metrics' cost.

docs/PERFORMANCE.md "Live metrics" holds the figures."""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile

BENCHES = {
    "8-byte allreduce, runtime path (us)": (
        ["allreduce", "--path", "runtime", "-b", "8", "-e", "8", "-n", "5000", "-w", "500"],
        lambda j: j["results"][0]["out_of_place"]["median_us"]),
    "ResNet-50 step (ms)": (
        ["--workload", "resnet50"], lambda j: j["median_step_ms"]),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(build, args, metrics_on, out_json):
    env = dict(os.environ)
    env.pop("KOLO_METRICS_PORT", None)
    if metrics_on:
        env["KOLO_METRICS_PORT"] = str(free_port())
    cmd = [os.path.join(build, "bin", "kolorun"), "-np", "2", "--timeout", "300", "--",
           os.path.join(build, "bin", "kolo-bench"), *args, "--json", out_json]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    with open(out_json) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("build")
    parser.add_argument("pairs", nargs="?", type=int, default=5)
    parser.add_argument("--baseline", help="a build of the commit to compare with")
    parser.add_argument("--only", choices=["8-byte", "step"],
                        help="run one benchmark: the 8-byte call or the ResNet-50 step")
    args = parser.parse_args()
    builds = [("", os.path.abspath(args.build))]
    if args.baseline:
        builds.insert(0, ("base ", os.path.abspath(args.baseline)))
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    scratch = tempfile.mkdtemp(prefix="kolo-metrics-overhead-")
    for title, (bench_args, pick) in BENCHES.items():
        if args.only and not title.startswith({"8-byte": "8-byte", "step": "ResNet"}[args.only]):
            continue
        times = {(name, on): [] for name, _ in builds for on in (False, True)}
        for i in range(args.pairs):
            for name, build in builds:
                for on in (False, True):
                    value = pick(run(build, bench_args, on, os.path.join(scratch, "r.json")))
                    times[(name, on)].append(value)
                    print("%s  run %d  %smetrics %-3s %.3f" % (title, i, name,
                                                             "on" if on else "off", value),
                          flush=True)
        median = {key: statistics.median(v) for key, v in times.items()}
        for name, _ in builds:
            off, on = median[(name, False)], median[(name, True)]
            # Each pair ran back to back: the median of their ratios is robust to a machine
            # that switches between a fast and a slow mode from one run to the next.
            paired = statistics.median(b / a for a, b in zip(times[(name, False)],
                                                              times[(name, True)]))
            print("%s: %smedian off %.3f, on %.3f, on/off - 1 = %+.1f %%; median of the "
                  "pairs' on/off - 1 = %+.1f %%" %
                  (title, name, off, on, 100.0 * (on / off - 1.0), 100.0 * (paired - 1.0)),
                  flush=True)
        if args.baseline:
            print("%s: metrics on, this build / base - 1 = %+.1f %%; metrics off: %+.1f %%" %
                  (title, 100.0 * (median[("", True)] / median[("base ", True)] - 1.0),
                   100.0 * (median[("", False)] / median[("base ", False)] - 1.0)), flush=True)
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
