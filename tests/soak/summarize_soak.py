"""Summary of a soak run: reads OUTDIR/<phase>.rank<r>.json written by soak.py and fails on
any wrong element or on resources that grew after warm-up. Resident memory moves with the
allocator (NumPy buffers of up to 4 MiB come and go), so a leak is judged on the trend: the
peak RSS of the last third of the samples against the peak of the first third.
Usage: summarize_soak.py OUTDIR SHM_SEGMENTS_BEFORE SHM_SEGMENTS_AFTER"""

import glob
import json
import os
import sys

RSS_SLACK_KIB = 64 * 1024


def main():
    out, shm_before, shm_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    failures = []
    print("| phase | rank | seconds | ops | elements | #wrong | RSS KiB (warm -> end) | "
          "peak RSS KiB (first third -> last third) | fds | threads |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    reports = sorted(glob.glob(os.path.join(out, "*.rank*.json")))
    if not reports:
        failures.append("no reports in %s" % out)
    for path in reports:
        with open(path) as f:
            r = json.load(f)
        phase = os.path.basename(path).split(".rank")[0]
        base, final = r["baseline"] or r["final"], r["final"]
        samples = r["samples"]
        third = max(1, len(samples) // 3)
        early = max((s["rss_kib"] for s in samples[:third]), default=base["rss_kib"])
        late = max((s["rss_kib"] for s in samples[-third:]), default=final["rss_kib"])
        print("| %s | %d | %.0f | %d | %d | %d | %d -> %d | %d -> %d | %d -> %d | %d -> %d |" % (
            phase, r["rank"], r["seconds"], r["ops"], r["elements"], r["wrong"],
            base["rss_kib"], final["rss_kib"], early, late, base["fds"], final["fds"],
            base["threads"], final["threads"]))
        where = "%s rank %d" % (phase, r["rank"])
        if r["wrong"]:
            failures.append("%s: %d wrong elements" % (where, r["wrong"]))
        if late - early > RSS_SLACK_KIB:
            failures.append("%s: peak RSS grew from %d to %d KiB" % (where, early, late))
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
