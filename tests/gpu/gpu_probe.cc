// Says whether this machine has a usable CUDA device, and what Kolo was built with: the GPU
// check script starts with it. Exit 0 with a device, 77 without.
#include <cstdio>

#include "kolo/collectives/gpu.h"
#include "kolo/collectives/gpu/device_runtime.h"

int main() {
  const kolo::gpu::BuildInfo info = kolo::gpu::buildInfo();
  std::printf("built with CUDA %s (runtime %d), NCCL %s (version %d)\n", info.cuda ? "on" : "off",
              info.cudaRuntimeVersion, info.nccl ? "on" : "off", info.ncclVersion);
  auto count = kolo::gpu::deviceCount();
  if (!count.hasValue()) {
    std::printf("%s\n", count.status().message().c_str());
    return 77;
  }
  for (int d = 0; d < count.value(); ++d) {
    auto bus = kolo::gpu::pciBusId(d);
    std::printf("gpu:%d pci %s\n", d, bus.hasValue() ? bus.value().c_str() : "?");
  }
  return 0;
}
