"""ImageNet-style training written the way Horovod's PyTorch ImageNet ResNet-50 example is:
gradient accumulation over sub-batches (backward_passes_per_step), learning-rate warmup to
base_lr * size(), metrics averaged over ranks with allreduce, checkpoints written by rank 0
and resumed from (the resume epoch broadcast from rank 0, then the parameters and optimizer
state). `import kolo.torch as hvd`.

It trains on random images rather than reading an ImageNet directory, and `--model` may be
one of tiny_models.py's when torchvision is missing:

    kolorun -np 2 -x PYTHONPATH python3 examples/horovod_style/pytorch_imagenet_resnet50.py \
        --model small_resnet --image-size 32 --epochs 2

Every rank prints each epoch's averaged metrics, so all ranks print the same numbers.
"""

import argparse
import math
import os

import torch
import torch.backends.cudnn as cudnn
import torch.nn.functional as F
import torch.optim as optim
import torch.utils.data.distributed

import kolo.torch as hvd
import tiny_models

parser = argparse.ArgumentParser(description="ImageNet-style training on random images",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--checkpoint-format", default="./checkpoint-{epoch}.pth.tar",
                    help="checkpoint file name pattern")
parser.add_argument("--fp16-allreduce", action="store_true", default=False,
                    help="compress gradients to float16 for the allreduce")
parser.add_argument("--batches-per-allreduce", type=int, default=1,
                    help="sub-batches accumulated locally before each allreduce")
parser.add_argument("--use-adasum", action="store_true", default=False,
                    help="combine updates with Adasum instead of averaging gradients")
parser.add_argument("--gradient-predivide-factor", type=float, default=1.0,
                    help="part of the averaging applied before the sum")
parser.add_argument("--model", default="resnet50", help="model to train")
parser.add_argument("--image-size", type=int, default=224, help="image height and width")
parser.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
parser.add_argument("--train-size", type=int, default=1024, help="random training images")
parser.add_argument("--val-size", type=int, default=256, help="random validation images")
parser.add_argument("--batch-size", type=int, default=32, help="training sub-batch size")
parser.add_argument("--val-batch-size", type=int, default=32, help="validation batch size")
parser.add_argument("--epochs", type=int, default=90, help="epochs to train")
parser.add_argument("--base-lr", type=float, default=0.0125, help="learning rate per sample")
parser.add_argument("--warmup-epochs", type=float, default=5, help="learning-rate warmup")
parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
parser.add_argument("--wd", type=float, default=0.00005, help="weight decay")
parser.add_argument("--no-cuda", action="store_true", default=False, help="train on the CPU")
parser.add_argument("--seed", type=int, default=42, help="random seed")


class Metric:
    """A running mean of a value averaged over the ranks."""

    def __init__(self, name):
        self.name = name
        self.sum = torch.tensor(0.0)
        self.n = torch.tensor(0.0)

    def update(self, val):
        self.sum += hvd.allreduce(val.detach().cpu(), name=self.name)
        self.n += 1

    @property
    def avg(self):
        return self.sum / self.n


def accuracy(output, target):
    pred = output.max(1, keepdim=True)[1]
    return pred.eq(target.view_as(pred)).cpu().float().mean()


def adjust_learning_rate(epoch, batch_idx):
    """Warm up from base_lr to base_lr * size() (https://arxiv.org/abs/1706.02677), then
    divide by 10 at epochs 30, 60 and 80."""
    if epoch < args.warmup_epochs:
        epoch += float(batch_idx + 1) / len(train_loader)
        lr_adj = 1.0 / hvd.size() * (epoch * (hvd.size() - 1) / args.warmup_epochs + 1)
    else:
        lr_adj = 10.0 ** -sum(epoch >= e for e in (30, 60, 80))
    for param_group in optimizer.param_groups:
        param_group["lr"] = args.base_lr * hvd.size() * args.batches_per_allreduce * lr_adj


def train(epoch):
    model.train()
    train_sampler.set_epoch(epoch)
    train_loss, train_accuracy = Metric("train_loss"), Metric("train_accuracy")
    for batch_idx, (data, target) in enumerate(train_loader):
        adjust_learning_rate(epoch, batch_idx)
        if args.cuda:
            data, target = data.cuda(), target.cuda()
        optimizer.zero_grad()
        sub_batches = math.ceil(float(len(data)) / args.batch_size)
        for i in range(0, len(data), args.batch_size):
            output = model(data[i:i + args.batch_size])
            train_accuracy.update(accuracy(output, target[i:i + args.batch_size]))
            loss = F.cross_entropy(output, target[i:i + args.batch_size])
            train_loss.update(loss)
            loss.div_(sub_batches)  # the step applies the mean over the sub-batches
            loss.backward()
        optimizer.step()
    print("epoch %d train: loss %.6f accuracy %.4f%%" % (
        epoch + 1, train_loss.avg.item(), 100.0 * train_accuracy.avg.item()), flush=True)


def validate(epoch):
    model.eval()
    val_loss, val_accuracy = Metric("val_loss"), Metric("val_accuracy")
    with torch.no_grad():
        for data, target in val_loader:
            if args.cuda:
                data, target = data.cuda(), target.cuda()
            output = model(data)
            val_loss.update(F.cross_entropy(output, target))
            val_accuracy.update(accuracy(output, target))
    print("epoch %d validation: loss %.6f accuracy %.4f%%" % (
        epoch + 1, val_loss.avg.item(), 100.0 * val_accuracy.avg.item()), flush=True)


def save_checkpoint(epoch):
    if hvd.rank() == 0:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
        torch.save(state, args.checkpoint_format.format(epoch=epoch + 1))


def random_dataset(size, seed):
    g = torch.Generator().manual_seed(seed)
    data, target = tiny_models.fake_images(size, args.image_size, args.num_classes, g)
    return torch.utils.data.TensorDataset(data, target)


if __name__ == "__main__":
    args = parser.parse_args()
    args.cuda = not args.no_cuda and torch.cuda.is_available()
    allreduce_batch_size = args.batch_size * args.batches_per_allreduce

    hvd.init()
    torch.manual_seed(args.seed)
    if args.cuda:
        torch.cuda.set_device(hvd.local_rank())
        torch.cuda.manual_seed(args.seed)
    cudnn.benchmark = True

    # The newest checkpoint rank 0 can see; every rank resumes from rank 0's answer.
    resume_from_epoch = 0
    for try_epoch in range(args.epochs, 0, -1):
        if os.path.exists(args.checkpoint_format.format(epoch=try_epoch)):
            resume_from_epoch = try_epoch
            break
    resume_from_epoch = hvd.broadcast(torch.tensor(resume_from_epoch), root_rank=0,
                                      name="resume_from_epoch").item()
    if resume_from_epoch > 0:
        print("resuming from epoch %d" % resume_from_epoch, flush=True)

    train_dataset = random_dataset(args.train_size, seed=1)
    train_sampler = torch.utils.data.distributed.DistributedSampler(
        train_dataset, num_replicas=hvd.size(), rank=hvd.rank())
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=allreduce_batch_size,
                                               sampler=train_sampler)
    val_dataset = random_dataset(args.val_size, seed=2)
    val_sampler = torch.utils.data.distributed.DistributedSampler(
        val_dataset, num_replicas=hvd.size(), rank=hvd.rank())
    val_loader = torch.utils.data.DataLoader(val_dataset, batch_size=args.val_batch_size,
                                             sampler=val_sampler)

    model = tiny_models.get(args.model, args.num_classes)
    lr_scaler = args.batches_per_allreduce * hvd.size() if not args.use_adasum else 1
    if args.cuda:
        model.cuda()
        if args.use_adasum and hvd.nccl_built():
            lr_scaler = args.batches_per_allreduce * hvd.local_size()
    optimizer = optim.SGD(model.parameters(), lr=args.base_lr * lr_scaler,
                          momentum=args.momentum, weight_decay=args.wd)
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(
        optimizer, named_parameters=model.named_parameters(), compression=compression,
        backward_passes_per_step=args.batches_per_allreduce,
        op=hvd.Adasum if args.use_adasum else hvd.Average,
        gradient_predivide_factor=args.gradient_predivide_factor)

    # Rank 0 restores the checkpoint; the broadcasts give every rank its state.
    if resume_from_epoch > 0 and hvd.rank() == 0:
        checkpoint = torch.load(args.checkpoint_format.format(epoch=resume_from_epoch))
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

    for epoch in range(resume_from_epoch, args.epochs):
        train(epoch)
        validate(epoch)
        save_checkpoint(epoch)
