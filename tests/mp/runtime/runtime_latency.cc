// Not a test: measures submit -> handle ready for one small allreduce through the whole runtime
// (negotiation, response cache, handles), the number `kolo-bench --path runtime` reports, or
// (`resnet50`) the median step of ResNet-50's 161 gradients submitted in backward order.
// Usage: kolorun -np 2 -- kolo_runtime_latency [bytes [iterations]] | resnet50 [steps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kolo/kolo.hpp"

// ResNet-50's parameter tensors (element counts) in forward order: 161 tensors, 25.6 M floats.
std::vector<size_t> resnet50Sizes() {
  std::vector<size_t> sizes = {64 * 3 * 7 * 7, 64, 64};
  size_t in = 64;
  const size_t blocks[] = {3, 4, 6, 3};
  for (size_t stage = 0; stage < 4; ++stage) {
    const size_t w = size_t{64} << stage;
    for (size_t b = 0; b < blocks[stage]; ++b) {
      for (size_t v : {in * w, w, w, 9 * w * w, w, w, w * 4 * w, 4 * w, 4 * w}) {
        sizes.push_back(v);
      }
      if (b == 0) {
        for (size_t v : {in * 4 * w, 4 * w, 4 * w}) sizes.push_back(v);
      }
      in = 4 * w;
    }
  }
  sizes.push_back(2048 * 1000);
  sizes.push_back(1000);
  return sizes;
}

int runResnet(kolo::Session& s, int steps) {
  const std::vector<size_t> sizes = resnet50Sizes();
  std::vector<std::vector<float>> grads;
  for (size_t n : sizes) grads.emplace_back(n, 1.0f);
  std::vector<double> ms;
  for (int step = 0; step < steps + 3; ++step) {
    auto start = std::chrono::steady_clock::now();
    std::vector<kolo::Handle> handles;
    for (size_t i = sizes.size(); i-- > 0;) {  // backward order
      kolo::Tensor t{grads[i].data(),
                     grads[i].data(),
                     kolo::DataType::kFloat32,
                     {static_cast<int64_t>(sizes[i])}};
      auto h = s.allreduce("resnet50.grad." + std::to_string(i), t,
                           {.reduceOp = kolo::ReduceOp::kAverage});
      if (!h.hasValue()) return 1;
      handles.push_back(h.value());
    }
    for (auto& h : handles) {
      if (!h.wait(120).isOk()) return 1;
    }
    auto end = std::chrono::steady_clock::now();
    if (step >= 3) ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(ms.begin(), ms.end());
  if (s.rank() == 0) {
    size_t total = 0;
    for (size_t n : sizes) total += n;
    std::printf("runtime resnet50 %zu tensors, %zu floats, %d steps: median %.2f ms, min %.2f ms\n",
                sizes.size(), total, steps, ms[ms.size() / 2], ms.front());
  }
  return s.shutdown().isOk() ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "resnet50") {
    auto session = kolo::Session::init();
    if (!session.hasValue()) return 1;
    kolo::Session s = session.value();
    return runResnet(s, argc > 2 ? std::atoi(argv[2]) : 10);
  }
  const size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 8;
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 2000;
  auto session = kolo::Session::init();
  if (!session.hasValue()) {
    std::fprintf(stderr, "%s\n", session.status().toString().c_str());
    return 1;
  }
  kolo::Session s = session.value();
  std::vector<float> data(std::max<size_t>(bytes / sizeof(float), 1), 1.0f);
  kolo::Tensor t{
      data.data(), data.data(), kolo::DataType::kFloat32, {static_cast<int64_t>(data.size())}};
  std::vector<double> micros;
  for (int i = 0; i < iterations + 100; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto h = s.allreduce("latency.probe", t);
    if (!h.hasValue() || !h.value().wait(60).isOk()) {
      std::fprintf(stderr, "allreduce failed\n");
      return 1;
    }
    auto end = std::chrono::steady_clock::now();
    if (i >= 100) micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::sort(micros.begin(), micros.end());
  if (s.rank() == 0) {
    std::printf("runtime allreduce %zu B x %d: median %.1f us, p10 %.1f us, p90 %.1f us\n",
                data.size() * sizeof(float), iterations, micros[micros.size() / 2],
                micros[micros.size() / 10], micros[micros.size() * 9 / 10]);
  }
  return s.shutdown().isOk() ? 0 : 1;
}
