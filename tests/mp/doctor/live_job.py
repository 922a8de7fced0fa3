"""A 2-rank job for live_test.py.
  stall   after 3 steps rank 1 sleeps in Python (the line marked STRAGGLER) while rank 0 waits
          in 'grad.x'; then both finish
  stop    as stall, but rank 1 stops itself (SIGSTOP) instead of sleeping
  status  both ranks run allreduces 'step.N', printing "running" once, until the file ARG
          exists (at most 60 s)
Usage: live_job.py stall SECONDS | live_job.py stop 0 | live_job.py status STOP_FILE"""
import os
import signal
import sys
import time

import numpy as np

import kolo


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    kolo.init()
    for step in range(3):
        kolo.allreduce(np.ones(8, dtype=np.float32), name=f"step.{step}")
    if mode in ("stall", "stop"):
        if kolo.rank() == 1 and mode == "stop":
            os.kill(os.getpid(), signal.SIGSTOP)
        if kolo.rank() == 1:
            time.sleep(float(arg))  # STRAGGLER
        kolo.allreduce(np.ones(8, dtype=np.float32), name="grad.x")
    else:
        print(f"rank {kolo.rank()}: running", flush=True)
        step, end = 3, time.monotonic() + 60
        while kolo.allreduce(np.array([time.monotonic() < end and not os.path.exists(arg)],
                                      dtype=np.int32), op=kolo.Min, name=f"step.{step}")[0]:
            time.sleep(0.01)
            step += 1
    kolo.shutdown()


if __name__ == "__main__":
    main()
