"""A small elastic training job for tests/mp/elastic/elastic_test.py.

Usage: elastic_train.py OUTDIR STEPS [--kill-launch-rank R --kill-at-step K]
                                      [--hold-launch-ranks R,R... --hold-at-step K]
                                      [--grow-file F --grow-at-step K --grow-to N]
                                      [--step-sleep SECONDS] [--resume-from CHECKPOINT]

Trains an MLP with DistributedOptimizer on a deterministic dataset: step t uses the global
batch t, split across the current ranks by rank (rows r::size). The state is committed after
every step and rank 0 writes each commit to OUTDIR/commit_<step>.pt. The victim (launch rank
R, from KOLO_RANK) kills itself with SIGKILL at the start of step K, mid-epoch. --hold: those
launch ranks write OUTDIR/held.<R> at the start of step K and sleep there until something kills
them (tests/cluster/elastic_host_test.py then kills their whole host). Rank 0 records
every reset in OUTDIR/resets.txt and the final parameters in OUTDIR/final.pt.
--grow-file: launch rank 0 writes "localhost:N" into F after committing step K (the job's
--host-discovery-script reads F), so kolorun adds ranks while the job trains.
--resume-from starts from a commit file instead (the reference run).
"""

import argparse
import os
import signal
import time

import torch

import kolo.torch as hvd

GLOBAL_BATCH = 12
FEATURES = 8


def batch(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(GLOBAL_BATCH, FEATURES, generator=g)
    y = (x.sum(dim=1, keepdim=True) > 0).float()
    return x, y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("steps", type=int)
    parser.add_argument("--kill-launch-rank", type=int, default=-1)
    parser.add_argument("--kill-at-step", type=int, default=-1)
    parser.add_argument("--hold-launch-ranks", default="")
    parser.add_argument("--hold-at-step", type=int, default=-1)
    parser.add_argument("--grow-file")
    parser.add_argument("--grow-at-step", type=int, default=-1)
    parser.add_argument("--grow-to", type=int, default=0)
    parser.add_argument("--step-sleep", type=float, default=0.0)
    parser.add_argument("--resume-from")
    args = parser.parse_args()

    hvd.init()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    start = 0
    if args.resume_from:
        saved = torch.load(args.resume_from)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        start = saved["step"]
    state = hvd.elastic.TorchState(model, optimizer, step=start)
    launch_rank = int(os.environ.get("KOLO_RANK", "0"))
    held = [int(r) for r in args.hold_launch_ranks.split(",") if r]

    def record_reset():
        if hvd.rank() == 0:
            with open(os.path.join(args.outdir, "resets.txt"), "a") as f:
                f.write("resumed at step %d with %d ranks\n" % (state.step, hvd.size()))

    state.register_reset_callbacks([record_reset])

    @hvd.elastic.run
    def train(state):
        loss_fn = torch.nn.BCEWithLogitsLoss()
        while state.step < args.steps:
            if launch_rank == args.kill_launch_rank and state.step == args.kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
            if launch_rank in held and state.step == args.hold_at_step:
                with open(os.path.join(args.outdir, "held.%d" % launch_rank), "w") as f:
                    f.write("%d\n" % os.getpid())
                time.sleep(3600)
            x, y = batch(state.step)
            rows = slice(hvd.rank(), None, hvd.size())
            optimizer.zero_grad()
            loss = loss_fn(model(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
            state.step += 1
            if launch_rank == 0 and state.step == args.grow_at_step and args.grow_file:
                with open(args.grow_file, "w") as f:
                    f.write("localhost:%d\n" % args.grow_to)
            time.sleep(args.step_sleep)
            if hvd.rank() == 0:  # what commit() keeps, for the reference run
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                            "step": state.step},
                           os.path.join(args.outdir, "commit_%d.pt" % state.step))
            state.commit()

    train(state)
    if hvd.rank() == 0:
        torch.save({"model": model.state_dict(), "size": hvd.size()},
                   os.path.join(args.outdir, "final.pt"))
    # Every rank holds the same parameters.
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = hvd.allgather(flat.unsqueeze(0))
    assert all(torch.equal(gathered[0], row) for row in gathered), "ranks diverged"
    hvd.shutdown()


if __name__ == "__main__":
    main()
