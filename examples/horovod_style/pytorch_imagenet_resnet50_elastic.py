"""Elastic ImageNet-style training written the way Horovod's elastic PyTorch ImageNet example
is: an ElasticSampler splits the epoch over whatever ranks the job has, TorchState carries the
model, optimizer, sampler, epoch and batch, `state.commit()` every few batches, and after the
job re-forms the epoch resumes with the samples no rank has processed yet. `import kolo.torch
as hvd`; metrics and accuracy come from the non-elastic example next to this one.

    kolorun -np 2 -x PYTHONPATH python3 examples/horovod_style/pytorch_imagenet_resnet50_elastic.py \
        --model small_resnet --image-size 32 --epochs 2

Every rank prints each epoch's averaged metrics and how many samples the epoch trained on.
"""

import argparse

import torch
import torch.nn.functional as F
import torch.optim as optim

import kolo.torch as hvd
import tiny_models
from pytorch_imagenet_resnet50 import Metric, accuracy

parser = argparse.ArgumentParser(description="Elastic ImageNet-style training on random images",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--batches-per-commit", type=int, default=4,
                    help="batches between state.commit() calls")
parser.add_argument("--fp16-allreduce", action="store_true", default=False,
                    help="compress gradients to float16 for the allreduce")
parser.add_argument("--model", default="resnet50", help="model to train")
parser.add_argument("--image-size", type=int, default=224, help="image height and width")
parser.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
parser.add_argument("--train-size", type=int, default=1024, help="random training images")
parser.add_argument("--batch-size", type=int, default=32, help="training batch size")
parser.add_argument("--epochs", type=int, default=90, help="epochs to train")
parser.add_argument("--base-lr", type=float, default=0.0125, help="learning rate per sample")
parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
parser.add_argument("--wd", type=float, default=0.00005, help="weight decay")
parser.add_argument("--seed", type=int, default=42, help="random seed")


def scale_learning_rate():
    """base_lr * batch size * size(): called at start and after every re-formation."""
    for param_group in optimizer.param_groups:
        param_group["lr"] = args.base_lr * args.batch_size * hvd.size()


@hvd.elastic.run
def train(state):
    # state.sync() ran before this call: rank 0's weights, optimizer state, epoch and batch,
    # and the union of every rank's processed samples, re-split over the ranks of the job now.
    for state.epoch in range(state.epoch, args.epochs):
        model.train()
        loss_metric, accuracy_metric = Metric("train_loss"), Metric("train_accuracy")
        trained = 0
        # The loader yields only the samples not processed yet this epoch, so batch idx of
        # this pass is what record_batch() names; state.batch counts the epoch's batches.
        for idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = F.cross_entropy(output, target)
            loss.backward()
            optimizer.step()
            loss_metric.update(loss)
            accuracy_metric.update(accuracy(output, target))
            trained += len(data)
            state.train_sampler.record_batch(idx, args.batch_size)
            state.batch += 1
            if state.batch % args.batches_per_commit == 0:
                state.commit()
        samples = hvd.allreduce(torch.tensor(trained), op=hvd.Sum, name="samples").item()
        print("epoch %d train: loss %.6f accuracy %.4f%% samples %d" % (
            state.epoch + 1, loss_metric.avg.item(), 100.0 * accuracy_metric.avg.item(),
            samples), flush=True)
        state.batch = 0
        state.train_sampler.set_epoch(state.epoch + 1)
        state.commit()


if __name__ == "__main__":
    args = parser.parse_args()
    hvd.init()
    torch.manual_seed(args.seed)

    g = torch.Generator().manual_seed(1)
    images, labels = tiny_models.fake_images(args.train_size, args.image_size,
                                             args.num_classes, g)
    train_dataset = torch.utils.data.TensorDataset(images, labels)
    train_sampler = hvd.elastic.ElasticSampler(train_dataset, shuffle=True, seed=args.seed)
    train_loader = torch.utils.data.DataLoader(train_dataset, batch_size=args.batch_size,
                                               sampler=train_sampler)

    model = tiny_models.get(args.model, args.num_classes)
    optimizer = optim.SGD(model.parameters(), lr=args.base_lr, momentum=args.momentum,
                          weight_decay=args.wd)
    scale_learning_rate()
    compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         compression=compression)

    state = hvd.elastic.TorchState(model=model, optimizer=optimizer,
                                   train_sampler=train_sampler, epoch=0, batch=0)
    state.register_reset_callbacks([scale_learning_rate])
    train(state)
