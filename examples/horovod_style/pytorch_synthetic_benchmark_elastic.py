"""The synthetic benchmark as an elastic job, written the way Horovod's elastic PyTorch
synthetic benchmark is: training state in hvd.elastic.TorchState, committed every few
batches, the loop inside an @hvd.elastic.run function, the learning rate rescaled by a reset
callback when the job re-forms. `import kolo.torch as hvd`; start it with kolorun (add
`--min-np N` to let it survive failed ranks).

    kolorun -np 2 -x PYTHONPATH python3 \
        examples/horovod_style/pytorch_synthetic_benchmark_elastic.py --model small_cnn
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

parser = argparse.ArgumentParser(description="Elastic synthetic-data training benchmark",
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
parser.add_argument("--num-batches-per-commit", type=int, default=1,
                    help="batches between two commits of the elastic state")
parser.add_argument("--no-cuda", action="store_true", default=False, help="train on the CPU")
parser.add_argument("--use-adasum", action="store_true", default=False,
                    help="combine updates with Adasum instead of averaging gradients")

args = parser.parse_args()
args.cuda = not args.no_cuda and torch.cuda.is_available()

hvd.init()
if args.cuda:
    torch.cuda.set_device(hvd.local_rank())
cudnn.benchmark = True

model = tiny_models.get(args.model, args.num_classes)


def lr_scaler():
    """Called again after every re-formation: size() may have changed."""
    if args.use_adasum:
        return hvd.local_size() if args.cuda and hvd.nccl_built() else 1
    return hvd.size()


if args.cuda:
    model.cuda()

lr = 0.01
optimizer = optim.SGD(model.parameters(), lr=lr * lr_scaler())
compression = hvd.Compression.fp16 if args.fp16_allreduce else hvd.Compression.none
optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                     compression=compression,
                                     op=hvd.Adasum if args.use_adasum else hvd.Average)

data, target = tiny_models.fake_images(args.batch_size, args.image_size, args.num_classes)
if args.cuda:
    data, target = data.cuda(), target.cuda()


def benchmark_step(state):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(data), target)
    loss.backward()
    optimizer.step()
    state.batch += 1
    if state.batch == args.num_batches_per_commit:
        state.batch = 0
        state.commit()


def log(text):
    if hvd.rank() == 0:
        print(text, flush=True)


device = "GPU" if args.cuda else "CPU"
log("Model: %s" % args.model)
log("Batch size: %d" % args.batch_size)
log("Number of %ss: %d" % (device, hvd.size()))


@hvd.elastic.run
def run_benchmark(state):
    # state.sync() (rank 0's weights, optimizer state and fields) ran before this call.
    if not state.warm:
        log("Running warmup...")
        timeit.timeit(lambda: benchmark_step(state), number=args.num_warmup_batches)
        state.warm = True
        state.commit()
    if state.iter == 0:
        log("Running benchmark...")
    for i in range(state.iter, args.num_iters):
        seconds = timeit.timeit(lambda: benchmark_step(state), number=args.num_batches_per_iter)
        img_sec = args.batch_size * args.num_batches_per_iter / seconds
        log("Iter #%d: %.1f img/sec per %s" % (i, img_sec, device))
        state.img_secs.append(img_sec)
        state.iter = i + 1
        state.commit()


def on_state_reset():
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr * lr_scaler()


state = hvd.elastic.TorchState(model, optimizer, img_secs=[], iter=0, batch=0, warm=False)
state.register_reset_callbacks([on_state_reset])
run_benchmark(state)

img_sec_mean = np.mean(state.img_secs)
img_sec_conf = 1.96 * np.std(state.img_secs)
log("Img/sec per %s: %.1f +-%.1f" % (device, img_sec_mean, img_sec_conf))
log("Total img/sec on %d %s(s): %.1f +-%.1f" % (hvd.size(), device, hvd.size() * img_sec_mean,
                                                hvd.size() * img_sec_conf))
