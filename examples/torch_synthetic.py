"""Synthetic-data throughput run: a small ResNet trained with Kolo's DistributedOptimizer.

    build/bin/kolorun -np 2 -x PYTHONPATH=build/python /usr/bin/python3 examples/torch_synthetic.py

Each rank prints its loss and images/sec per interval. The data is random, so the loss only
shows that training runs; the throughput is the point.
"""

import argparse
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
    def __init__(self, classes=10, width=16):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, 1, 1, bias=False),
                                        torch.nn.BatchNorm2d(width), torch.nn.ReLU())
        self.layers = torch.nn.Sequential(Block(width, 1), Block(width, 2), Block(width * 2, 2))
        self.head = torch.nn.Linear(width * 4, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=10, help="steps per interval")
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--fp16-allreduce", action="store_true")
    args = parser.parse_args()

    hvd.init()
    torch.manual_seed(1)
    model = SmallResNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01 * hvd.size(), momentum=0.9)
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=compression)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    g = torch.Generator().manual_seed(100 + hvd.rank())
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
        print("rank %d interval %d: loss %.4f, %.1f images/sec" % (hvd.rank(), interval, loss,
                                                                   rate), flush=True)
    total = hvd.allreduce(torch.tensor(sum(rates) / len(rates)), op=hvd.Sum).item()
    if hvd.rank() == 0:
        print("total over %d ranks: %.1f images/sec" % (hvd.size(), total), flush=True)
    hvd.shutdown()


if __name__ == "__main__":
    main()
