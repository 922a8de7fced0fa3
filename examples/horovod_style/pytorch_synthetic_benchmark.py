"""Synthetic-data training throughput, written the way Horovod's PyTorch synthetic benchmark
is: the same flags, calls and printed lines, with `import kolo.torch as hvd`.

    kolorun -np 2 -x PYTHONPATH python3 examples/horovod_style/pytorch_synthetic_benchmark.py \
        --model small_resnet --image-size 64

Every rank trains on one fixed random batch; rank 0 prints images/sec per iteration and the
mean with its 95% interval. `--model` is a torchvision model name when torchvision is
installed, or one of tiny_models.py's (`small_cnn`, `small_resnet`).
"""

import argparse
import timeit

import numpy as np
import torch
import torch.backends.cudnn as cudnn
import torch.nn.functional as F
import torch.optim as optim

import kolo.torch as hvd
import tiny_models

parser = argparse.ArgumentParser(description="Synthetic-data training benchmark",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--fp16-allreduce", action="store_true", default=False,
                    help="compress gradients to float16 for the allreduce")
parser.add_argument("--model", type=str, default="resnet50", help="model to train")
parser.add_argument("--batch-size", type=int, default=32, help="images per rank and batch")
parser.add_argument("--image-size", type=int, default=224, help="image height and width")
parser.add_argument("--num-classes", type=int, default=1000, help="classifier outputs")
parser.add_argument("--num-warmup-batches", type=int, default=10,
                    help="batches run before timing starts")
parser.add_argument("--num-batches-per-iter", type=int, default=10,
                    help="batches per timed iteration")
parser.add_argument("--num-iters", type=int, default=10, help="timed iterations")
parser.add_argument("--no-cuda", action="store_true", default=False, help="train on the CPU")
parser.add_argument("--use-adasum", action="store_true", default=False,
                    help="combine updates with Adasum instead of averaging gradients")

args = parser.parse_args()
args.cuda = not args.no_cuda and torch.cuda.is_available()

hvd.init()
if args.cuda:
    torch.cuda.set_device(hvd.local_rank())  # one GPU per local rank
cudnn.benchmark = True

model = tiny_models.get(args.model, args.num_classes)

# Averaged gradients behave like a batch size() times larger: scale the learning rate.
# Adasum needs no scaling, except by the local size when it runs on GPUs with NCCL.
lr_scaler = hvd.size() if not args.use_adasum else 1
if args.cuda:
    model.cuda()
    if args.use_adasum and hvd.nccl_built():
        lr_scaler = hvd.local_size()
optimizer = optim.SGD(model.parameters(), lr=0.01 * lr_scaler)

compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                     compression=compression,
                                     op=hvd.Adasum if args.use_adasum else hvd.Average)

# Every rank starts from rank 0's weights and optimizer state.
hvd.broadcast_parameters(model.state_dict(), root_rank=0)
hvd.broadcast_optimizer_state(optimizer, root_rank=0)

data, target = tiny_models.fake_images(args.batch_size, args.image_size, args.num_classes)
if args.cuda:
    data, target = data.cuda(), target.cuda()


def benchmark_step():
    optimizer.zero_grad()
    loss = F.cross_entropy(model(data), target)
    loss.backward()
    optimizer.step()


def log(text):
    if hvd.rank() == 0:
        print(text, flush=True)


device = "GPU" if args.cuda else "CPU"
log("Model: %s" % args.model)
log("Batch size: %d" % args.batch_size)
log("Number of %ss: %d" % (device, hvd.size()))

log("Running warmup...")
timeit.timeit(benchmark_step, number=args.num_warmup_batches)

log("Running benchmark...")
img_secs = []
for i in range(args.num_iters):
    seconds = timeit.timeit(benchmark_step, number=args.num_batches_per_iter)
    img_sec = args.batch_size * args.num_batches_per_iter / seconds
    log("Iter #%d: %.1f img/sec per %s" % (i, img_sec, device))
    img_secs.append(img_sec)

img_sec_mean = np.mean(img_secs)
img_sec_conf = 1.96 * np.std(img_secs)
log("Img/sec per %s: %.1f +-%.1f" % (device, img_sec_mean, img_sec_conf))
log("Total img/sec on %d %s(s): %.1f +-%.1f" % (hvd.size(), device, hvd.size() * img_sec_mean,
                                                hvd.size() * img_sec_conf))
