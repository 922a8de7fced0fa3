// The job the fault matrix breaks: every step submits four small gradients (fused: packed into
// one buffer, so the fusion_copy point is reached) and one large one (run in place by the
// ring or the shared-memory arena: the reduce_scatter and allgather points), waits for all five
// and checks every element against the exact sum. A survivor must either see correct results
// or an error; success with a wrong element (a partial contribution) exits 3.
//   fault_job [steps]      prints "fault_job: <status>" and exits 2 when an op fails
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kolo/core/engine.h"

namespace {

using kolo::Deadline;
using kolo::Status;
using kolo::Tensor;
using kolo::core::Engine;
using kolo::core::Handle;

Tensor floats(std::vector<float>& v) {
  Tensor t;
  t.data = v.data();
  t.output = v.data();
  t.dtype = kolo::DataType::kFloat32;
  t.shape = {static_cast<int64_t>(v.size())};
  return t;
}

int fail(const Status& s) {
  std::fprintf(stderr, "fault_job: %s\n", s.toString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 40;
  auto made = Engine::fromEnv();
  if (!made.hasValue()) return fail(made.status());
  Engine& engine = *made.value();
  const int n = engine.size();
  const float mine = static_cast<float>(engine.rank() + 1);
  const float sum = static_cast<float>(n * (n + 1) / 2);
  std::vector<std::vector<float>> tensors(5);
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].resize(i < 4 ? 1024 : 320 * 1024);
  for (int step = 0; step < steps; ++step) {
    std::vector<Handle> handles;
    for (size_t i = 0; i < tensors.size(); ++i) {
      std::fill(tensors[i].begin(), tensors[i].end(), mine);
      auto h = engine.allreduce("grad." + std::to_string(i), floats(tensors[i]));
      if (!h.hasValue()) return fail(h.status());
      handles.push_back(std::move(h.value()));
    }
    for (Handle& h : handles) {
      if (Status s = h.wait(Deadline::afterSeconds(60)); !s.isOk()) return fail(s);
    }
    for (const auto& t : tensors) {
      for (float x : t) {
        if (x != sum) {
          std::fprintf(stderr, "fault_job: step %d: wrong result %g, expected %g\n", step, x, sum);
          return 3;
        }
      }
    }
  }
  if (Status s = engine.shutdown(); !s.isOk()) return fail(s);
  std::printf("fault_job: %d steps done\n", steps);
  return 0;
}
