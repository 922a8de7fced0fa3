"""MNIST-shaped training written the way Horovod's PyTorch MNIST example is: DistributedSampler
partitions, learning rate scaled by size(), broadcast of the initial state, DistributedOptimizer
(fp16 compression, Adasum, gradient predivide), test metrics averaged with allreduce, the
mixed-precision path with synchronize() and skip_synchronize(). `import kolo.torch as hvd`.

Instead of downloading MNIST it trains on synthetic 28x28 digits (the label decides which
quadrant is bright), so it runs anywhere:

    kolorun -np 2 -x PYTHONPATH python3 examples/horovod_style/pytorch_mnist.py --epochs 2
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torch.utils.data.distributed

import kolo.torch as hvd

parser = argparse.ArgumentParser(description="MNIST-shaped training on synthetic digits")
parser.add_argument("--batch-size", type=int, default=64, help="training batch size")
parser.add_argument("--test-batch-size", type=int, default=1000, help="test batch size")
parser.add_argument("--epochs", type=int, default=10, help="epochs to train")
parser.add_argument("--lr", type=float, default=0.01, help="learning rate per rank")
parser.add_argument("--momentum", type=float, default=0.5, help="SGD momentum")
parser.add_argument("--no-cuda", action="store_true", default=False, help="train on the CPU")
parser.add_argument("--seed", type=int, default=42, help="random seed")
parser.add_argument("--log-interval", type=int, default=10, help="batches between log lines")
parser.add_argument("--fp16-allreduce", action="store_true", default=False,
                    help="compress gradients to float16 for the allreduce")
parser.add_argument("--use-mixed-precision", action="store_true", default=False,
                    help="autocast and a gradient scaler (CUDA only)")
parser.add_argument("--use-adasum", action="store_true", default=False,
                    help="combine updates with Adasum instead of averaging gradients")
parser.add_argument("--gradient-predivide-factor", type=float, default=1.0,
                    help="part of the averaging applied before the sum")
parser.add_argument("--train-size", type=int, default=6000, help="synthetic training images")
parser.add_argument("--test-size", type=int, default=1000, help="synthetic test images")


class SyntheticDigits(torch.utils.data.Dataset):
    """Deterministic 1x28x28 images: noise plus a bright quadrant chosen by the label."""

    def __init__(self, size, seed):
        g = torch.Generator().manual_seed(seed)
        self.labels = torch.randint(0, 10, (size,), generator=g)
        self.images = torch.randn(size, 1, 28, 28, generator=g) * 0.3
        for i, label in enumerate(self.labels.tolist()):
            row, col = divmod(label % 4, 2)
            self.images[i, 0, row * 14:(row + 1) * 14, col * 14:(col + 1) * 14] += 1 + label / 10

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.dropout(x, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def main(args):
    hvd.init()
    torch.manual_seed(args.seed)
    if args.cuda:
        torch.cuda.set_device(hvd.local_rank())
        torch.cuda.manual_seed(args.seed)
    elif args.use_mixed_precision:
        raise ValueError("Mixed precision is only supported with cuda enabled.")
    torch.set_num_threads(1)  # several ranks share this host's cores

    kwargs = {"num_workers": 1, "pin_memory": True} if args.cuda else {}
    train_dataset = SyntheticDigits(args.train_size, seed=1)
    train_sampler = torch.utils.data.distributed.DistributedSampler(
        train_dataset, num_replicas=hvd.size(), rank=hvd.rank())
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=args.batch_size,
                                               sampler=train_sampler, **kwargs)
    test_dataset = SyntheticDigits(args.test_size, seed=2)
    test_sampler = torch.utils.data.distributed.DistributedSampler(
        test_dataset, num_replicas=hvd.size(), rank=hvd.rank())
    test_loader = torch.utils.data.DataLoader(test_dataset, batch_size=args.test_batch_size,
                                              sampler=test_sampler, **kwargs)

    model = Net()
    lr_scaler = hvd.size() if not args.use_adasum else 1
    if args.cuda:
        model.cuda()
        if args.use_adasum and hvd.nccl_built():
            lr_scaler = hvd.local_size()
    optimizer = optim.SGD(model.parameters(), lr=args.lr * lr_scaler, momentum=args.momentum)

    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=compression,
                                         op=hvd.Adasum if args.use_adasum else hvd.Average,
                                         gradient_predivide_factor=args.gradient_predivide_factor)
    scaler = torch.cuda.amp.GradScaler() if args.use_mixed_precision else None

    for epoch in range(1, args.epochs + 1):
        train_epoch(args, model, optimizer, train_sampler, train_loader, epoch, scaler)
        test(args, model, test_sampler, test_loader)


def train_epoch(args, model, optimizer, train_sampler, train_loader, epoch, scaler):
    model.train()
    train_sampler.set_epoch(epoch)  # a new shuffle of the partitions each epoch
    for batch_idx, (data, target) in enumerate(train_loader):
        if args.cuda:
            data, target = data.cuda(), target.cuda()
        optimizer.zero_grad()
        if scaler is None:
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
        else:
            with torch.cuda.amp.autocast():
                loss = F.nll_loss(model(data), target)
            scaler.scale(loss).backward()
            optimizer.synchronize()  # the averaged gradients, before unscaling them
            scaler.unscale_(optimizer)
            with optimizer.skip_synchronize():
                scaler.step(optimizer)
            scaler.update()
        if batch_idx % args.log_interval == 0:
            print("Train Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}".format(
                epoch, batch_idx * len(data), len(train_sampler),
                100.0 * batch_idx / len(train_loader), loss.item()), flush=True)


def metric_average(val, name):
    return hvd.allreduce(torch.tensor(val), name=name).item()


def test(args, model, test_sampler, test_loader):
    model.eval()
    test_loss, test_accuracy = 0.0, 0.0
    with torch.no_grad():
        for data, target in test_loader:
            if args.cuda:
                data, target = data.cuda(), target.cuda()
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.max(1, keepdim=True)[1]
            test_accuracy += pred.eq(target.view_as(pred)).cpu().float().sum().item()
    # Each rank saw its partition; the averages over ranks are the whole set's.
    test_loss = metric_average(test_loss / len(test_sampler), "avg_loss")
    test_accuracy = metric_average(test_accuracy / len(test_sampler), "avg_accuracy")
    if hvd.rank() == 0:
        print("\nTest set: Average loss: {:.4f}, Accuracy: {:.2f}%\n".format(
            test_loss, 100.0 * test_accuracy), flush=True)


if __name__ == "__main__":
    args = parser.parse_args()
    args.cuda = not args.no_cuda and torch.cuda.is_available()
    main(args)
