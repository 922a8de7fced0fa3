#!/usr/bin/python3
"""A peer failure reaches Python as KoloPeerError naming the failed rank.

Run as a rank:   peer_error.py rank  (under kolorun; rank 1 exits with code 3 at its 4th step)
Run as the test: peer_error.py KOLORUN PYTHONPATH
  checks that kolorun exits 3 and both survivors print "caught KoloPeerError" with the same
  message naming rank 1.
"""
import os
import re
import subprocess
import sys


def rank_main():
    import numpy as np
    import kolo
    kolo.init()
    x = np.ones(1000, dtype=np.float32)
    try:
        for step in range(1000):
            out = kolo.allreduce(x, name=f"grad.{step % 3}", op=kolo.Sum)
            assert float(out[0]) == kolo.size(), out[0]
    except kolo.KoloPeerError as e:
        print(f"caught KoloPeerError: {e}", flush=True)
        sys.exit(0)
    print("no error", flush=True)
    sys.exit(1)


def test_main(kolorun, pythonpath):
    env = dict(os.environ, PYTHONPATH=pythonpath, KOLO_TIMEOUT_SECONDS="10",
               KOLO_FAULT_INJECT="rank=1,op=allreduce,seq=12,action=exit:3")
    out = subprocess.run([kolorun, "-np", "3", sys.executable, os.path.abspath(__file__), "rank"],
                         env=env, capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    caught = re.findall(r"\[(\d)\]<stdout>:caught KoloPeerError: (.*)", text)
    problems = []
    if out.returncode != 3:
        problems.append(f"kolorun exited {out.returncode}, expected 3")
    if sorted(int(r) for r, _ in caught) != [0, 2]:
        problems.append(f"survivors that caught KoloPeerError: {[r for r, _ in caught]}")
    messages = {re.sub(r"^.*?(rank \d+ \(host)", r"\1", m) for _, m in caught}
    if len(messages) != 1 or not next(iter(messages)).startswith("rank 1 (host"):
        problems.append(f"survivors' messages differ or do not name rank 1: {messages}")
    print("\n".join(problems) if problems else f"ok: {caught[0][1]}")
    if problems:
        print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["rank"]:
        rank_main()
    else:
        sys.exit(test_main(sys.argv[1], sys.argv[2]))
