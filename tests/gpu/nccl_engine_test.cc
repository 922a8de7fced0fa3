// Needs a CUDA device (skips without one): every collective on CUDA tensors through the Engine
// at np=1, for every dtype, with fusion on and off, on NCCL and on the host-staged path,
// against the same ops run on host tensors (the reference). Inputs are written on a caller
// stream right before submission without synchronizing, so a result can only be right if
// Kolo's stream really waits for the caller's.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "kolo/collectives/gpu.h"
#include "kolo/collectives/reduce.h"
#include "support/collective_reference.h"
#include "unit/engine/engine_world.h"

namespace kolo {
namespace {

using core::Engine;
using core::Handle;

// Small integers: exact in every dtype, products stay in range at np=1.
std::vector<std::byte> values(DataType t, size_t count, int salt) {
  std::vector<std::byte> out(count * dataTypeSize(t));
  for (size_t i = 0; i < count; ++i) {
    const int v = static_cast<int>((i * 7 + static_cast<size_t>(salt)) % 13) - 4;
    test::storeValue(t, t == DataType::kUInt8 ? v + 4 : v, out.data(), i);
  }
  return out;
}

// One tensor's device memory plus its host reference copy.
struct DeviceTensor {
  void* data = nullptr;
  std::vector<std::byte> host;
  ~DeviceTensor() {
    if (data) cudaFree(data);
  }
};

struct Case {
  const char* mode;  // KOLO_GPU_OPERATIONS
  bool fusion;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.mode << (c.fusion ? " with fusion" : " without fusion");
}

class NcclEngine : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!gpu::deviceCount().hasValue()) GTEST_SKIP() << "no CUDA device";
    ::setenv("KOLO_GPU_OPERATIONS", GetParam().mode, 1);
  }
  void TearDown() override { ::unsetenv("KOLO_GPU_OPERATIONS"); }
  core::EngineConfig config() const {
    core::EngineConfig c = test::testEngineConfig();
    c.fusion.thresholdBytes = GetParam().fusion ? (uint64_t{64} << 20) : 0;
    return c;
  }
};

Status cudaOk(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok();
  return makeStatus(Code::kInternal, "{}: {}", what, cudaGetErrorString(e));
}

Status compare(const std::string& what, const std::vector<std::byte>& got,
               const std::vector<std::byte>& expected) {
  if (got.size() != expected.size()) {
    return makeStatus(Code::kMismatch, "{}: {} bytes, expected {}", what, got.size(),
                      expected.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != expected[i]) {
      return makeStatus(Code::kMismatch, "{}: first difference at byte {} of {}", what, i,
                        got.size());
    }
  }
  return Status::ok();
}

// Runs the ops on host copies (reference) and on device copies, then compares.
Status runAllCollectives(Engine& e, DataType t, cudaStream_t stream) {
  const std::string dt(dataTypeName(t));
  const std::vector<size_t> counts = {1, 7, 1000, 300000, 0, 33};  // 300000: runs in place
  std::vector<OpOptions> optionSets(3);
  const bool isFloat = t == DataType::kFloat16 || t == DataType::kBFloat16 ||
                       t == DataType::kFloat32 || t == DataType::kFloat64;
  optionSets[1].reduceOp = ReduceOp::kAverage;
  optionSets[1].prescale = isFloat ? 0.5 : 1.0;
  optionSets[1].postscale = 3.0;
  optionSets[2].reduceOp = ReduceOp::kMax;
  for (size_t o = 0; o < optionSets.size(); ++o) {
    // Several tensors submitted together: with fusion they share one device fusion buffer.
    std::vector<DeviceTensor> dev(counts.size());
    std::vector<std::vector<std::byte>> ref(counts.size());
    std::vector<Handle> devHandles, refHandles;
    for (size_t i = 0; i < counts.size(); ++i) {
      dev[i].host = values(t, counts[i], static_cast<int>(i + o));
      ref[i] = dev[i].host;
      const size_t bytes = dev[i].host.size();
      KOLO_RETURN_IF_ERROR(cudaOk(cudaMalloc(&dev[i].data, bytes + 1), "cudaMalloc"));
      KOLO_RETURN_IF_ERROR(cudaOk(
          cudaMemcpyAsync(dev[i].data, dev[i].host.data(), bytes, cudaMemcpyHostToDevice, stream),
          "input copy"));
    }
    for (size_t i = 0; i < counts.size(); ++i) {
      const std::string name = fmt::format("ar.{}.{}.{}", dt, o, i);
      const int64_t n = static_cast<int64_t>(counts[i]);
      Tensor d{dev[i].data, nullptr, t, {n}, 0, stream};
      Tensor h{ref[i].data(), nullptr, t, {n}, kCpuDevice};
      KOLO_ASSIGN_OR_RETURN(Handle dh, e.allreduce("gpu." + name, d, optionSets[o]));
      KOLO_ASSIGN_OR_RETURN(Handle hh, e.allreduce("host." + name, h, optionSets[o]));
      devHandles.push_back(dh);
      refHandles.push_back(hh);
    }
    for (Handle& h : refHandles) KOLO_RETURN_IF_ERROR(h.wait(Deadline::afterSeconds(60)));
    for (Handle& h : devHandles) KOLO_RETURN_IF_ERROR(h.wait(Deadline::afterSeconds(60)));
    for (size_t i = 0; i < counts.size(); ++i) {
      std::vector<std::byte> got(ref[i].size());
      KOLO_RETURN_IF_ERROR(cudaOk(
          cudaMemcpyAsync(got.data(), dev[i].data, got.size(), cudaMemcpyDeviceToHost, stream),
          "result copy"));
      KOLO_RETURN_IF_ERROR(cudaOk(cudaStreamSynchronize(stream), "sync"));
      KOLO_RETURN_IF_ERROR(compare(
          fmt::format("allreduce {} options {} tensor {} ({} elements)", dt, o, i, counts[i]), got,
          ref[i]));
    }
  }
  // Broadcast: several tensors (fused when fusion is on), out of place.
  {
    std::vector<DeviceTensor> in(3), out(3);
    std::vector<Handle> handles;
    for (size_t i = 0; i < in.size(); ++i) {
      in[i].host = values(t, 100 * (i + 1), static_cast<int>(i));
      const size_t bytes = in[i].host.size();
      KOLO_RETURN_IF_ERROR(cudaOk(cudaMalloc(&in[i].data, bytes), "cudaMalloc"));
      KOLO_RETURN_IF_ERROR(cudaOk(cudaMalloc(&out[i].data, bytes), "cudaMalloc"));
      KOLO_RETURN_IF_ERROR(cudaOk(
          cudaMemcpyAsync(in[i].data, in[i].host.data(), bytes, cudaMemcpyHostToDevice, stream),
          "input copy"));
      KOLO_RETURN_IF_ERROR(cudaOk(cudaMemsetAsync(out[i].data, 0x5a, bytes, stream), "memset"));
      Tensor d{in[i].data, out[i].data, t, {static_cast<int64_t>(100 * (i + 1))}, 0, stream};
      OpOptions root;
      KOLO_ASSIGN_OR_RETURN(Handle h, e.broadcast(fmt::format("bc.{}.{}", dt, i), d, root));
      handles.push_back(h);
    }
    for (size_t i = 0; i < in.size(); ++i) {
      KOLO_RETURN_IF_ERROR(handles[i].wait(Deadline::afterSeconds(60)));
      std::vector<std::byte> got(in[i].host.size());
      KOLO_RETURN_IF_ERROR(
          cudaOk(cudaMemcpy(got.data(), out[i].data, got.size(), cudaMemcpyDeviceToHost), "copy"));
      KOLO_RETURN_IF_ERROR(compare(fmt::format("broadcast {} tensor {}", dt, i), got, in[i].host));
    }
  }
  // Allgather, alltoall, reducescatter of one 6 x 5 tensor: results come back in host memory.
  const std::vector<int64_t> shape = {6, 5};
  const size_t count = 30;
  DeviceTensor rows;
  rows.host = values(t, count, 3);
  KOLO_RETURN_IF_ERROR(cudaOk(cudaMalloc(&rows.data, rows.host.size()), "cudaMalloc"));
  KOLO_RETURN_IF_ERROR(cudaOk(cudaMemcpyAsync(rows.data, rows.host.data(), rows.host.size(),
                                              cudaMemcpyHostToDevice, stream),
                              "input copy"));
  Tensor d{rows.data, nullptr, t, shape, 0, stream};
  Tensor h{rows.host.data(), nullptr, t, shape, kCpuDevice};
  OpOptions rs;
  rs.reduceOp = isFloat ? ReduceOp::kAverage : ReduceOp::kSum;
  rs.postscale = isFloat ? 0.25 : 1.0;
  struct RowOp {
    const char* name;
    Expected<Handle> (Engine::*fn)(const std::string&, const Tensor&, const OpOptions&);
    OpOptions options;
  };
  const RowOp ops[] = {{"allgather", &Engine::allgather, {}},
                       {"alltoall", &Engine::alltoall, {}},
                       {"reducescatter", &Engine::reducescatter, rs}};
  for (const RowOp& op : ops) {
    KOLO_ASSIGN_OR_RETURN(Handle dh,
                          (e.*op.fn)(fmt::format("gpu.{}.{}", op.name, dt), d, op.options));
    KOLO_ASSIGN_OR_RETURN(Handle hh,
                          (e.*op.fn)(fmt::format("host.{}.{}", op.name, dt), h, op.options));
    KOLO_RETURN_IF_ERROR(hh.wait(Deadline::afterSeconds(60)));
    KOLO_RETURN_IF_ERROR(dh.wait(Deadline::afterSeconds(60)));
    KOLO_RETURN_IF_ERROR(
        compare(fmt::format("{} {}", op.name, dt), dh.result().data, hh.result().data));
    if (dh.result().shape != hh.result().shape) {
      return makeStatus(Code::kMismatch, "{} {}: result shapes differ", op.name, dt);
    }
  }
  return Status::ok();
}

TEST_P(NcclEngine, EveryCollectiveAndDtypeMatchesTheHostPath) {
  auto results = test::runEngines(
      1,
      [](Engine& e) -> Status {
        cudaStream_t stream = nullptr;
        KOLO_RETURN_IF_ERROR(cudaOk(cudaSetDevice(0), "cudaSetDevice"));
        KOLO_RETURN_IF_ERROR(
            cudaOk(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream"));
        Status s;
        for (DataType t : kAllDataTypes) {
          s = runAllCollectives(e, t, stream);
          if (!s.isOk()) break;
        }
        cudaStreamDestroy(stream);
        return s;
      },
      config(), 240.0);
  EXPECT_TRUE(results[0].isOk()) << results[0].toString();
}

TEST_P(NcclEngine, TheLegacyDefaultStreamIsOrderedToo) {
  auto results = test::runEngines(
      1,
      [](Engine& e) -> Status {
        KOLO_RETURN_IF_ERROR(cudaOk(cudaSetDevice(0), "cudaSetDevice"));
        return runAllCollectives(e, DataType::kFloat32, nullptr);
      },
      config(), 120.0);
  EXPECT_TRUE(results[0].isOk()) << results[0].toString();
}

INSTANTIATE_TEST_SUITE_P(Paths, NcclEngine,
                         ::testing::Values(Case{"nccl", true}, Case{"nccl", false},
                                           Case{"host", true}, Case{"host", false}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.mode) +
                                  (info.param.fusion ? "_fusion" : "_nofusion");
                         });

}  // namespace
}  // namespace kolo
