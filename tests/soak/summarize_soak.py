"""Summary of a soak run: reads OUTDIR/<phase>.rank<r>.json written by soak.py and fails on
any wrong element or on resources that grew after warm-up.
Usage: summarize_soak.py OUTDIR SHM_SEGMENTS_BEFORE SHM_SEGMENTS_AFTER"""

import glob
import json
import os
import sys

RSS_SLACK_KIB = 64 * 1024


def main():
    out, shm_before, shm_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    failures = []
    print("| phase | rank | seconds | ops | elements | #wrong | RSS KiB (warm -> end) | fds | "
          "threads |")
    print("|---|---|---|---|---|---|---|---|---|")
    reports = sorted(glob.glob(os.path.join(out, "*.rank*.json")))
    if not reports:
        failures.append("no reports in %s" % out)
    for path in reports:
        with open(path) as f:
            r = json.load(f)
        phase = os.path.basename(path).split(".rank")[0]
        base, final = r["baseline"] or r["final"], r["final"]
        print("| %s | %d | %.0f | %d | %d | %d | %d -> %d | %d -> %d | %d -> %d |" % (
            phase, r["rank"], r["seconds"], r["ops"], r["elements"], r["wrong"],
            base["rss_kib"], final["rss_kib"], base["fds"], final["fds"], base["threads"],
            final["threads"]))
        where = "%s rank %d" % (phase, r["rank"])
        if r["wrong"]:
            failures.append("%s: %d wrong elements" % (where, r["wrong"]))
        if final["rss_kib"] - base["rss_kib"] > RSS_SLACK_KIB:
            failures.append("%s: RSS grew by %d KiB" % (where, final["rss_kib"] - base["rss_kib"]))
        for key in ("fds", "threads", "shm_segments"):
            if final[key] > base[key]:
                failures.append("%s: %s grew from %d to %d" % (where, key, base[key], final[key]))
    print("/dev/shm kolo segments before %d, after %d" % (shm_before, shm_after))
    if shm_after > shm_before:
        failures.append("%d /dev/shm segments left behind" % (shm_after - shm_before))
    for failure in failures:
        print("FAILED:", failure)
    print("soak: %s" % ("FAILED" if failures else "OK"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
