"""A 2-rank job for live_test.py.
  stall   after 3 steps rank 1 sleeps in Python (the line marked STRAGGLER) while rank 0 waits
          in 'grad.x'; then both finish
  status  both ranks run allreduces 'step.N' for a few seconds, printing "running" once
Usage: live_job.py stall|status SECONDS"""
import sys
import time

import numpy as np

import kolo


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    kolo.init()
    for step in range(3):
        kolo.allreduce(np.ones(8, dtype=np.float32), name=f"step.{step}")
    if mode == "stall":
        if kolo.rank() == 1:
            time.sleep(seconds)  # STRAGGLER
        kolo.allreduce(np.ones(8, dtype=np.float32), name="grad.x")
    else:
        print(f"rank {kolo.rank()}: running", flush=True)
        step, end = 3, time.monotonic() + seconds
        while kolo.allreduce(np.array([time.monotonic() < end], dtype=np.int32),
                             op=kolo.Min, name=f"step.{step}")[0]:
            time.sleep(0.01)
            step += 1
    kolo.shutdown()


if __name__ == "__main__":
    main()
