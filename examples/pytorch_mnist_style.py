"""Horovod-style data-parallel training on Kolo: an MNIST-shaped convolutional classifier on
synthetic data (nothing is downloaded).

    build/bin/kolorun -np 2 /usr/bin/python3 examples/pytorch_mnist_style.py

with PYTHONPATH pointing at build/python (kolorun passes it on with `-x PYTHONPATH`).
A Horovod script differs from this one only in its import line. It shows the usual steps:
scale the learning rate by the number of ranks, start every rank from rank 0's parameters
and optimizer state, let DistributedOptimizer average gradients, average the metrics, and
write checkpoints on rank 0 only.
"""

import argparse
import time

import torch
import torch.nn.functional as F

import kolo.torch as hvd


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, kernel_size=5)
        self.conv2 = torch.nn.Conv2d(8, 16, kernel_size=5)
        self.fc1 = torch.nn.Linear(16 * 4 * 4, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def synthetic_batches(rank, count, batch_size):
    """Learnable synthetic data: the label decides which image quadrant is bright."""
    g = torch.Generator().manual_seed(1000 + rank)
    for _ in range(count):
        labels = torch.randint(0, 10, (batch_size,), generator=g)
        images = torch.randn(batch_size, 1, 28, 28, generator=g) * 0.3
        for i, label in enumerate(labels.tolist()):
            row, col = divmod(label % 4, 2)
            images[i, 0, row * 14:(row + 1) * 14, col * 14:(col + 1) * 14] += 1.0 + label / 10
        yield images, labels


def metric_average(value, name):
    return hvd.allreduce(torch.tensor(float(value)), name=name).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches-per-epoch", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--fp16-allreduce", action="store_true")
    parser.add_argument("--checkpoint", default="checkpoint.pt")
    args = parser.parse_args()

    hvd.init()
    torch.manual_seed(42 + hvd.rank())  # ranks differ until the broadcast below
    torch.set_num_threads(1)
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr * hvd.size(), momentum=0.5)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=compression)

    for epoch in range(args.epochs):
        model.train()
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        for images, labels in synthetic_batches(hvd.rank() + 97 * epoch,
                                                args.batches_per_epoch, args.batch_size):
            optimizer.zero_grad()
            output = model(images)
            loss = F.cross_entropy(output, labels)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (output.argmax(1) == labels).sum().item()
            seen += len(labels)
        elapsed = time.perf_counter() - start
        loss = metric_average(total_loss / seen, "avg_loss")
        accuracy = metric_average(correct / seen, "avg_accuracy")
        print("rank %d epoch %d: %.1f images/sec" % (hvd.rank(), epoch, seen / elapsed),
              flush=True)
        if hvd.rank() == 0:
            print("epoch %d: average loss %.4f, accuracy %.1f%%" % (epoch, loss,
                                                                    100 * accuracy),
                  flush=True)
            torch.save({"epoch": epoch, "model": model.state_dict(),
                        "optimizer": optimizer.state_dict()}, args.checkpoint)

    hvd.shutdown()


if __name__ == "__main__":
    main()
