"""Median in-place busbw per size of two variants of one kolo-bench measurement, side by side.

Usage: compare_variants.py FOLDER REPS TITLE PATTERN A B
PATTERN names each run's JSON inside FOLDER with {variant} and {rep} placeholders, e.g.
"np4_2x2_{variant}_{rep}.json"; A and B are the two variants; the last column is A/B."""

import json
import statistics
import sys


def main():
    folder, reps, title, pattern, first, second = sys.argv[1:7]
    reps = int(reps)
    busbw = {}  # (variant, bytes) -> [GB/s per rep]
    for variant in (first, second):
        for rep in range(1, reps + 1):
            path = f"{folder}/{pattern.format(variant=variant, rep=rep)}"
            for row in json.load(open(path))["results"]:
                busbw.setdefault((variant, row["bytes"]), []).append(row["in_place"]["busbw"])
    print(title)
    print(f"median busbw (GB/s) over {reps} run(s)")
    ratio = f"{first}/{second}"
    print(f"{'size':>10} {first:>8} {second:>8} {ratio:>10}")
    for size in sorted({b for _, b in busbw}):
        a = statistics.median(busbw[(first, size)])
        b = statistics.median(busbw[(second, size)])
        print(f"{size >> 20:>7} MiB {a:>8.2f} {b:>8.2f} {a / b if b else float('nan'):>10.2f}")


if __name__ == "__main__":
    main()
