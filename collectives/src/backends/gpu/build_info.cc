#include "kolo/collectives/gpu.h"

#ifdef KOLO_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif
#ifdef KOLO_HAVE_NCCL
#include <nccl.h>
#endif

namespace kolo::gpu {

BuildInfo buildInfo() {
  BuildInfo info;
#ifdef KOLO_HAVE_CUDA
  info.cuda = true;
  info.cudaRuntimeVersion = CUDART_VERSION;
#endif
#ifdef KOLO_HAVE_NCCL
  info.nccl = true;
  int version = 0;
  // ncclGetVersion reads the linked library's version and needs no device.
  if (ncclGetVersion(&version) == ncclSuccess) info.ncclVersion = version;
#endif
  return info;
}

}  // namespace kolo::gpu
