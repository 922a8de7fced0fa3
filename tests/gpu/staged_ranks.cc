// Two (or more) ranks sharing one GPU, started by kolorun: NCCL cannot put two ranks on one
// device, so Kolo must detect the shared GPU (same PCI bus id on every rank) and stage CUDA
// tensors through host memory. Uses only the C ABI (libkolo.so) and the CUDA runtime; checks
// exact results of fused and single allreduces, average with scaling, broadcast and an uneven
// allgather. Prints "staged ranks: OK" on success; exits 1 naming the first wrong result.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kolo.h"

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "staged ranks: FAILED: %s (%s)\n", what.c_str(), kolo_last_error());
  return 1;
}

#define CUDA(call)                                                      \
  do {                                                                  \
    if (cudaError_t e_ = (call); e_ != cudaSuccess) return fail(#call); \
  } while (0)
#define KOLO(call)                             \
  do {                                         \
    if ((call) != KOLO_OK) return fail(#call); \
  } while (0)

kolo_tensor_t tensor(const void* data, void* out, kolo_dtype_t dtype, const int64_t* shape,
                     int32_t ndim, cudaStream_t stream) {
  kolo_tensor_t t;
  kolo_tensor_init(&t);
  t.data = data;
  t.output = out;
  t.dtype = dtype;
  t.shape = shape;
  t.ndim = ndim;
  t.device = 0;
  t.stream = stream;
  return t;
}

}  // namespace

int main() {
  kolo_session_t* s = nullptr;
  KOLO(kolo_init(nullptr, &s));
  const int rank = kolo_rank(s), size = kolo_size(s);
  CUDA(cudaSetDevice(0));
  cudaStream_t stream;
  CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  int checks = 0;

  // Fused allreduce of several small f32 tensors and one that runs in place (2 MiB).
  const std::vector<int64_t> counts = {5, 100, 3, 524288};
  std::vector<float*> dev(counts.size());
  std::vector<kolo_handle_t*> handles(counts.size());
  for (size_t i = 0; i < counts.size(); ++i) {
    std::vector<float> host(counts[i]);
    for (int64_t k = 0; k < counts[i]; ++k) host[k] = static_cast<float>((rank + 1) * (k % 97 + 1));
    CUDA(cudaMalloc(&dev[i], counts[i] * sizeof(float)));
    CUDA(cudaMemcpyAsync(dev[i], host.data(), counts[i] * sizeof(float), cudaMemcpyHostToDevice,
                         stream));
    kolo_tensor_t t = tensor(dev[i], nullptr, KOLO_FLOAT32, &counts[i], 1, stream);
    KOLO(kolo_allreduce_async(s, ("sum." + std::to_string(i)).c_str(), &t, nullptr, &handles[i]));
  }
  const float rankSum = static_cast<float>(size * (size + 1) / 2);
  for (size_t i = 0; i < counts.size(); ++i) {
    KOLO(kolo_handle_wait(handles[i], 60.0));
    kolo_handle_free(handles[i]);
    std::vector<float> got(counts[i]);
    CUDA(cudaMemcpy(got.data(), dev[i], counts[i] * sizeof(float), cudaMemcpyDeviceToHost));
    for (int64_t k = 0; k < counts[i]; ++k) {
      if (got[k] != rankSum * static_cast<float>(k % 97 + 1)) {
        return fail("allreduce sum." + std::to_string(i) + " element " + std::to_string(k) + " = " +
                    std::to_string(got[k]));
      }
    }
    ++checks;
    cudaFree(dev[i]);
  }

  // Average of f64 with pre- and postscale, out of place.
  {
    const int64_t n = 1000;
    std::vector<double> host(n, static_cast<double>(rank * 4));
    double *in = nullptr, *out = nullptr;
    CUDA(cudaMalloc(&in, n * sizeof(double)));
    CUDA(cudaMalloc(&out, n * sizeof(double)));
    CUDA(cudaMemcpy(in, host.data(), n * sizeof(double), cudaMemcpyHostToDevice));
    kolo_tensor_t t = tensor(in, out, KOLO_FLOAT64, &n, 1, nullptr);
    kolo_op_options_t o;
    kolo_op_options_init(&o);
    o.reduce_op = KOLO_AVERAGE;
    o.prescale = 0.5;
    o.postscale = 3.0;
    kolo_handle_t* h = nullptr;
    KOLO(kolo_allreduce_async(s, "avg.f64", &t, &o, &h));
    KOLO(kolo_handle_wait(h, 60.0));
    kolo_handle_free(h);
    CUDA(cudaMemcpy(host.data(), out, n * sizeof(double), cudaMemcpyDeviceToHost));
    const double expected = 3.0 * (0.5 * 4.0 * (size * (size - 1) / 2)) / size;
    for (double v : host) {
      if (v != expected)
        return fail("average " + std::to_string(v) + " != " + std::to_string(expected));
    }
    ++checks;
    cudaFree(in);
    cudaFree(out);
  }

  // Broadcast of i32 from the last rank.
  {
    const int64_t n = 77;
    std::vector<int32_t> host(n, rank == size - 1 ? 1234 : -1);
    int32_t* d = nullptr;
    CUDA(cudaMalloc(&d, n * sizeof(int32_t)));
    CUDA(cudaMemcpy(d, host.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice));
    kolo_tensor_t t = tensor(d, nullptr, KOLO_INT32, &n, 1, nullptr);
    kolo_op_options_t o;
    kolo_op_options_init(&o);
    o.root_rank = size - 1;
    kolo_handle_t* h = nullptr;
    KOLO(kolo_broadcast_async(s, "bcast.i32", &t, &o, &h));
    KOLO(kolo_handle_wait(h, 60.0));
    kolo_handle_free(h);
    CUDA(cudaMemcpy(host.data(), d, n * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (int32_t v : host) {
      if (v != 1234) return fail("broadcast got " + std::to_string(v));
    }
    ++checks;
    cudaFree(d);
  }

  // Allgather with rank + 1 rows of 3 int64 each.
  {
    const int64_t shape[2] = {rank + 1, 3};
    std::vector<int64_t> host((rank + 1) * 3, rank);
    int64_t* d = nullptr;
    CUDA(cudaMalloc(&d, host.size() * sizeof(int64_t)));
    CUDA(cudaMemcpy(d, host.data(), host.size() * sizeof(int64_t), cudaMemcpyHostToDevice));
    kolo_tensor_t t = tensor(d, nullptr, KOLO_INT64, shape, 2, nullptr);
    kolo_handle_t* h = nullptr;
    KOLO(kolo_allgather_async(s, "gather.i64", &t, nullptr, &h));
    KOLO(kolo_handle_wait(h, 60.0));
    const void* data = nullptr;
    size_t bytes = 0;
    KOLO(kolo_handle_output(h, &data, &bytes, nullptr, nullptr, 0));
    const auto* rows = static_cast<const int64_t*>(data);
    size_t at = 0;
    for (int r = 0; r < size; ++r) {
      for (int k = 0; k < (r + 1) * 3; ++k, ++at) {
        if (at * sizeof(int64_t) >= bytes || rows[at] != r) return fail("allgather row data");
      }
    }
    if (at * sizeof(int64_t) != bytes) return fail("allgather size");
    kolo_handle_free(h);
    ++checks;
    cudaFree(d);
  }

  cudaStreamDestroy(stream);
  KOLO(kolo_shutdown(s));
  std::printf("staged ranks: OK (rank %d of %d, %d checks)\n", rank, size, checks);
  return 0;
}
