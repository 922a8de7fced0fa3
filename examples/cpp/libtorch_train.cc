// A data-parallel trainer on libtorch's C++ frontend with Kolo's C++ API (kolo.hpp): a small
// MLP fits synthetic regression data; rank 0's initial parameters are broadcast, and each
// step's gradients go out as one fused, asynchronous grouped allreduce (average), waited
// before the optimizer step. Rank 0 prints the loss over every rank's data at each step.
//
//   kolorun -np 2 build/bin/kolo-example-libtorch [--steps N] [--batch B] [--double]
//                                                 [--out PREFIX] [--union-of N]
//
// --out PREFIX writes each rank's final parameters to PREFIX.rank<r>.txt (one line per
// parameter: its name, then every value). --union-of N, run without a launcher, trains one
// process on the data that N ranks would share, the reference a data-parallel run must match
// (tests/examples/check_libtorch_train.py).
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "kolo/kolo.hpp"

namespace {

struct Args {
  int steps = 30;
  int batch = 16;  // rows per rank and step
  bool useDouble = false;
  std::string out;
  int unionOf = 0;  // > 0: a single process on the data of this many ranks
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool hasValue = i + 1 < argc;
    if (flag == "--steps" && hasValue)
      a.steps = std::atoi(argv[++i]);
    else if (flag == "--batch" && hasValue)
      a.batch = std::atoi(argv[++i]);
    else if (flag == "--double")
      a.useDouble = true;
    else if (flag == "--out" && hasValue)
      a.out = argv[++i];
    else if (flag == "--union-of" && hasValue)
      a.unionOf = std::atoi(argv[++i]);
    else
      throw std::invalid_argument("unknown or incomplete argument: " + flag);
  }
  if (a.steps < 1 || a.batch < 1 || a.unionOf < 0) {
    throw std::invalid_argument("--steps and --batch must be positive, --union-of >= 0");
  }
  return a;
}

// A view of a contiguous CPU tensor's memory, written in place by allreduce and broadcast.
kolo::Tensor view(torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous() && t.device().is_cpu(), "Kolo views need contiguous CPU tensors");
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return kolo::tensorView(std::span(t.data_ptr<float>(), t.numel()));
    case torch::kFloat64:
      return kolo::tensorView(std::span(t.data_ptr<double>(), t.numel()));
    default:
      TORCH_CHECK(false, "this example trains in float32 or float64, not ", t.scalar_type());
  }
}

// Rank 0's parameters on every rank: one broadcast per parameter, all in flight at once.
void broadcastParameters(const kolo::Session& s, torch::nn::Module& model) {
  torch::NoGradGuard noGrad;
  std::vector<kolo::Handle> handles;
  for (auto& p : model.named_parameters()) {
    handles.push_back(
        s.broadcast("init." + p.key(), view(p.value()), {.rootRank = 0}).valueOrThrow());
  }
  kolo::throwIfError(kolo::waitAll(handles));
}

// The step's gradients, averaged over every rank in one fused op; its handle.
kolo::Handle allreduceGradients(const kolo::Session& s, torch::nn::Module& model) {
  std::vector<std::string> names;
  std::vector<kolo::Tensor> grads;
  for (auto& p : model.named_parameters()) {
    names.push_back("grad." + p.key());
    grads.push_back(view(p.value().mutable_grad()));
  }
  return s.groupedAllreduce(names, grads, {.reduceOp = kolo::ReduceOp::kAverage}).valueOrThrow();
}

void writeParameters(const std::string& path, torch::nn::Module& model) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot write " + path);
  for (auto& p : model.named_parameters()) {
    const torch::Tensor values = p.value().detach().to(torch::kFloat64).contiguous();
    std::fprintf(f, "%s", p.key().c_str());
    for (int64_t i = 0; i < values.numel(); ++i) {
      std::fprintf(f, " %.17g", values.data_ptr<double>()[i]);
    }
    std::fprintf(f, "\n");
  }
  std::fclose(f);
}

int train(const Args& a, const kolo::Session& s) {
  const int shards = a.unionOf > 0 ? a.unionOf : s.size();
  const int64_t rows = a.unionOf > 0 ? int64_t{a.batch} * shards : a.batch;
  const int64_t first = a.unionOf > 0 ? 0 : int64_t{a.batch} * s.rank();
  const auto dtype = a.useDouble ? torch::kFloat64 : torch::kFloat32;

  // The same data on every rank (one seed); each rank trains on its rows of every batch.
  torch::manual_seed(1234);
  const torch::Tensor x = torch::randn({a.steps, int64_t{a.batch} * shards, 8}, dtype);
  const torch::Tensor w = torch::randn({8, 1}, dtype);
  const torch::Tensor y =
      torch::tanh(x.matmul(w)) + 0.1 * torch::randn({a.steps, x.size(1), 1}, dtype);

  // Different initial parameters on each rank: the broadcast makes them rank 0's.
  torch::manual_seed(100 + (a.unionOf > 0 ? 0 : s.rank()));
  torch::nn::Sequential model(torch::nn::Linear(8, 16), torch::nn::Tanh(),
                              torch::nn::Linear(16, 1));
  model->to(dtype);
  broadcastParameters(s, *model);
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  for (int step = 0; step < a.steps; ++step) {
    optimizer.zero_grad();
    torch::Tensor loss = torch::mse_loss(model->forward(x[step].narrow(0, first, rows)),
                                         y[step].narrow(0, first, rows));
    loss.backward();
    kolo::Handle grads = allreduceGradients(s, *model);
    torch::Tensor meanLoss = loss.detach().clone();
    kolo::Handle lossHandle =
        s.allreduce("loss", view(meanLoss), {.reduceOp = kolo::ReduceOp::kAverage}).valueOrThrow();
    kolo::throwIfError(kolo::waitAll({grads, lossHandle}));
    optimizer.step();
    if (s.rank() == 0) std::printf("step %d loss %.9g\n", step, meanLoss.item<double>());
  }
  if (!a.out.empty()) {
    writeParameters(a.out + ".rank" + std::to_string(s.rank()) + ".txt", *model);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parse(argc, argv);
    kolo::Session session = kolo::Session::init().valueOrThrow();
    if (args.unionOf > 0 && session.size() != 1) {
      throw std::invalid_argument("--union-of is the single-process reference: run it alone");
    }
    const int rc = train(args, session);
    kolo::throwIfError(session.shutdown());
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kolo-example-libtorch: %s\n", e.what());
    return 1;
  }
}
