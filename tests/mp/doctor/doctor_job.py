"""A 3-rank job that goes wrong in one of two ways, for doctor_test.py; every rank ends with a
flight-recorder dump in KOLO_FLIGHT_RECORDER_DIR (or is gone).
  diverge  ranks 0 and 1 submit 'grad.a' while rank 2 submits 'grad.b' (a rank on another code
           path); each rank then asks itself for a dump (SIGUSR1) and exits
  dead     rank 2 exits without a word after step.4; ranks 0 and 1 submit 'grad.a', which fails
           naming rank 2 (the process set's failure writes their dumps)
Usage: doctor_job.py diverge|dead"""
import glob
import os
import signal
import sys
import time

import numpy as np

import kolo


def wait_for_dump(deadline_s=20):
    pattern = os.path.join(os.environ["KOLO_FLIGHT_RECORDER_DIR"],
                           f"kolo-flight.rank{kolo.rank()}.pid{os.getpid()}.txt")
    deadline = time.monotonic() + deadline_s
    while not glob.glob(pattern):
        if time.monotonic() > deadline:
            print(f"rank {kolo.rank()}: no dump at {pattern}", flush=True)
            os._exit(1)
        time.sleep(0.05)


def main():
    mode = sys.argv[1]
    kolo.init()
    for step in range(5):
        kolo.allreduce(np.ones(16, dtype=np.float32), name=f"step.{step}")
    if mode == "dead" and kolo.rank() == 2:
        os._exit(0)
    name = "grad.b" if kolo.rank() == 2 else "grad.a"
    handle = kolo.allreduce_async(np.ones(16, dtype=np.float32), name=name)
    if mode == "diverge":
        time.sleep(1.5)  # every rank's request has been negotiated by now
        os.kill(os.getpid(), signal.SIGUSR1)
    else:
        try:
            kolo.synchronize(handle)
            print(f"rank {kolo.rank()}: grad.a succeeded without rank 2", flush=True)
            os._exit(1)
        except kolo.KoloError as e:
            print(f"rank {kolo.rank()}: {type(e).__name__}: {e}", flush=True)
    wait_for_dump()
    print(f"rank {kolo.rank()}: dumped", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
