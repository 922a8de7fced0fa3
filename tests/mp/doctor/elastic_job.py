"""An elastic job for elastic_status_test.py (kolorun -np 3 --min-np 2): launch rank VICTIM
kills itself (SIGKILL) at step 3; the survivors re-form as a generation of 2 ranks
(kolo.elastic.run_fn) and run allreduces 'step.N', each printing "rank R of 2: running (launch
rank L, pid P)" once, until the file STOP_FILE exists (at most 60 s).
Usage: elastic_job.py VICTIM STOP_FILE"""
import os
import signal
import sys
import time

import numpy as np

import kolo
from kolo import elastic


def main():
    victim, stop = int(sys.argv[1]), sys.argv[2]
    launch_rank = int(os.environ["KOLO_RANK"])
    end = time.monotonic() + 60
    kolo.init()
    state = elastic.ObjectState(step=0)

    def train(state):
        announced = False
        while True:
            if launch_rank == victim and state.step == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            go = time.monotonic() < end and not os.path.exists(stop)
            if not kolo.allreduce(np.array([go], dtype=np.int32), op=kolo.Min,
                                  name=f"step.{state.step}")[0]:
                return
            state.step += 1
            state.commit()
            if kolo.size() == 2 and not announced:
                print(f"rank {kolo.rank()} of 2: running (launch rank {launch_rank}, pid "
                      f"{os.getpid()})", flush=True)
                announced = True
            time.sleep(0.01)

    elastic.run_fn(train)(state)
    kolo.shutdown()


if __name__ == "__main__":
    main()
