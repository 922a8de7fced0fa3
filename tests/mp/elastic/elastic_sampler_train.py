"""An elastic job over an ElasticSampler, for tests/mp/elastic/elastic_sampler_test.py.

Usage: elastic_sampler_train.py OUTDIR --kill-launch-rank R --kill-at-batch K

One epoch over a dataset whose samples are their own indices (N = 60, batch 2), a
DistributedOptimizer step and a commit per batch. Every rank appends each batch it trained
(indices and the job size then) to OUTDIR/trained_<launch rank>.jsonl; rank 0 appends, at each
(re)start of the training function, the job size and the sampler's processed indices to
OUTDIR/starts.jsonl. Launch rank R kills itself (SIGKILL) before its batch K.
"""

import argparse
import json
import os
import signal

import torch

import kolo.torch as hvd

N, BATCH = 60, 2


def append(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--kill-launch-rank", type=int, default=-1)
    parser.add_argument("--kill-at-batch", type=int, default=-1)
    args = parser.parse_args()

    hvd.init()
    launch_rank = int(os.environ.get("KOLO_RANK", "0"))
    dataset = torch.utils.data.TensorDataset(torch.arange(N, dtype=torch.float32).unsqueeze(1))
    sampler = hvd.elastic.ElasticSampler(dataset, shuffle=True, seed=4)
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler)
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=1e-4),
                                         named_parameters=model.named_parameters())
    state = hvd.elastic.TorchState(model, optimizer, train_sampler=sampler, batches=0)
    trained_log = os.path.join(args.outdir, "trained_%d.jsonl" % launch_rank)

    @hvd.elastic.run
    def train(state):
        if hvd.rank() == 0:
            append(os.path.join(args.outdir, "starts.jsonl"),
                   {"size": hvd.size(), "processed": sorted(state.train_sampler.processed_indices)})
        for idx, (x,) in enumerate(loader):
            if launch_rank == args.kill_launch_rank and state.batches == args.kill_at_batch:
                os.kill(os.getpid(), signal.SIGKILL)
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
            append(trained_log, {"size": hvd.size(),
                                 "indices": [int(v) for v in x.flatten().tolist()]})
            state.train_sampler.record_batch(idx, BATCH)
            state.batches += 1
            state.commit()

    train(state)
    hvd.shutdown()


if __name__ == "__main__":
    main()
