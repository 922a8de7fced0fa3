#!/usr/bin/python3
"""Live metrics' overhead: the 8-byte allreduce through the runtime (kolo-bench --path runtime)
and the ResNet-50 workload step (kolo-bench --workload resnet50), each run with metrics off and
with KOLO_METRICS_PORT set, alternating off/on so that load drifts hit both alike. Prints every
run, the median of each side and on/off - 1, and the load averages before and after.

  bench/metrics/overhead.py BUILD_DIR [PAIRS]     (default 5 pairs per benchmark)

docs/PERFORMANCE.md "Live metrics" holds the figures."""

import json
import os
import socket
import statistics
import subprocess
import sys
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
    build = os.path.abspath(sys.argv[1])
    pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    print("load average before: %.2f %.2f %.2f" % os.getloadavg())
    scratch = tempfile.mkdtemp(prefix="kolo-metrics-overhead-")
    for title, (args, pick) in BENCHES.items():
        times = {False: [], True: []}
        for i in range(pairs):
            for on in (False, True):
                value = pick(run(build, args, on, os.path.join(scratch, "r.json")))
                times[on].append(value)
                print("%s  run %d  metrics %-3s %.3f" % (title, i, "on" if on else "off", value),
                      flush=True)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print("%s: median off %.3f, on %.3f, on/off - 1 = %+.1f %%" %
              (title, off, on, 100.0 * (on / off - 1.0)), flush=True)
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
