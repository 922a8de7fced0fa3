"""Synthetic-data throughput run: a ResNet trained with Kolo's DistributedOptimizer.

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python /usr/bin/python3 examples/torch_synthetic.py

Each rank prints its loss and images/sec per interval. The data is random, so the loss only
shows that training runs; the throughput is the point. `--model resnet18` trains the CIFAR-style
ResNet-18 (11 M parameters) instead of the small default. `--backend gloo --init-file F` trains
the same model under torch's DistributedDataParallel on gloo (ranks from kolorun's KOLO_RANK
and KOLO_SIZE), for bench/contention/compute_bound.py's comparison.
"""

import argparse
import os
import time

import torch
import torch.nn.functional as F

import kolo.torch as hvd


class Block(torch.nn.Module):
    def __init__(self, channels, stride):
        super().__init__()
        out = channels * stride
        self.conv1 = torch.nn.Conv2d(channels, out, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(out)
        self.conv2 = torch.nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(out)
        self.shortcut = torch.nn.Sequential()
        if stride != 1:
            self.shortcut = torch.nn.Sequential(
                torch.nn.Conv2d(channels, out, 1, stride, bias=False), torch.nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(torch.nn.Module):
    """stages: blocks per stage; the first block of every stage after the first halves the
    resolution and doubles the width. (1, 1, 1) at width 16 is the small default; (2, 2, 2, 2)
    at width 64 is ResNet-18 for 32x32 images."""

    def __init__(self, classes=10, width=16, stages=(1, 1, 1)):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                        torch.nn.BatchNorm2d(width), torch.nn.ReLU())
        blocks, channels = [], width
        for stage, count in enumerate(stages):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(channels, stride))
                channels *= stride
        self.layers = torch.nn.Sequential(*blocks)
        self.head = torch.nn.Linear(channels, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {"small": dict(width=16, stages=(1, 1, 1)),
          "resnet18": dict(width=64, stages=(2, 2, 2, 2))}


class GlooRanks:
    """The few hvd calls this script makes, answered by torch.distributed on gloo."""

    def __init__(self, init_file):
        import torch.distributed as dist
        self.dist = dist
        dist.init_process_group("gloo", init_method="file://" + init_file,
                                rank=int(os.environ["KOLO_RANK"]),
                                world_size=int(os.environ["KOLO_SIZE"]))

    def rank(self):
        return self.dist.get_rank()

    def size(self):
        return self.dist.get_world_size()

    def total(self, value):
        t = torch.tensor(value)
        self.dist.all_reduce(t)
        return t.item()

    def finish(self):
        self.dist.destroy_process_group()


class KoloRanks:
    def rank(self):
        return hvd.rank()

    def size(self):
        return hvd.size()

    def total(self, value):
        return hvd.allreduce(torch.tensor(value), op=hvd.Sum).item()

    def finish(self):
        hvd.shutdown()


def distribute(args, model):
    """The optimizer and the `ranks` object (rank, size, total) of the chosen backend."""
    if args.backend == "gloo":
        ranks = GlooRanks(args.init_file)
        model = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * ranks.size(), momentum=0.9)
        return model, optimizer, ranks
    hvd.init()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * hvd.size(), momentum=0.9)
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=compression)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    return model, optimizer, KoloRanks()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10, help="steps per interval")
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--fp16-allreduce", action="store_true")
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--backend", choices=["kolo", "gloo"], default="kolo")
    parser.add_argument("--init-file", help="with --backend gloo: a shared file for init_method")
    args = parser.parse_args()
    if args.backend == "gloo" and not args.init_file:
        parser.error("--backend gloo needs --init-file")

    torch.manual_seed(1)
    model, optimizer, ranks = distribute(args, SmallResNet(**MODELS[args.model]))

    g = torch.Generator().manual_seed(100 + ranks.rank())
    images = torch.randn(args.batch_size, 3, 32, 32, generator=g)
    labels = torch.randint(0, 10, (args.batch_size,), generator=g)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    rates = []
    for interval in range(args.intervals):
        start = time.perf_counter()
        for _ in range(args.iterations):
            loss = step()
        rate = args.batch_size * args.iterations / (time.perf_counter() - start)
        rates.append(rate)
        print("rank %d interval %d: loss %.4f, %.1f images/sec" % (ranks.rank(), interval, loss,
                                                                   rate), flush=True)
    total = ranks.total(sum(rates) / len(rates))
    if ranks.rank() == 0:
        print("total over %d ranks: %.1f images/sec" % (ranks.size(), total), flush=True)
    ranks.finish()


if __name__ == "__main__":
    main()
