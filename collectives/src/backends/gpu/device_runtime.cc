// CUDA runtime wrappers behind device_runtime.h; without CUDA every call answers kUnavailable.
#include "kolo/collectives/gpu/device_runtime.h"

#include "kolo/collectives/gpu.h"

#ifdef KOLO_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kolo::gpu {

#ifdef KOLO_HAVE_CUDA
namespace {

Status fail(cudaError_t e, int32_t device, std::string_view what) {
  return makeStatus(Code::kUnavailable, "gpu:{}: {}: {} ({})", device, what, cudaGetErrorString(e),
                    cudaGetErrorName(e));
}

int32_t currentDevice() {
  int d = -1;
  return cudaGetDevice(&d) == cudaSuccess ? d : -1;
}

}  // namespace

Expected<int> deviceCount() {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    return makeStatus(Code::kUnavailable, "no CUDA device found: {} ({})", cudaGetErrorString(e),
                      cudaGetErrorName(e));
  }
  if (count == 0) return Status(Code::kUnavailable, "no CUDA device found (none is visible)");
  return count;
}

Status useDevice(int32_t device) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    return fail(e, device, "no CUDA device found");
  }
  if (device < 0 || device >= count) {
    return makeStatus(Code::kUnavailable, "gpu:{}: no such CUDA device ({} visible)", device,
                      count);
  }
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    return fail(e, device, "cannot use the device");
  }
  return Status::ok();
}

Expected<std::string> pciBusId(int32_t device) {
  KOLO_RETURN_IF_ERROR(useDevice(device));
  char id[64] = {};
  if (cudaError_t e = cudaDeviceGetPCIBusId(id, sizeof id, device); e != cudaSuccess) {
    return fail(e, device, "reading the PCI bus id");
  }
  return std::string(id);
}

void* deviceAlloc(int32_t device, size_t bytes) {
  if (!useDevice(device).isOk()) return nullptr;
  void* p = nullptr;
  return cudaMalloc(&p, bytes) == cudaSuccess ? p : nullptr;
}

void deviceFree(int32_t device, void* data) {
  if (data == nullptr || !useDevice(device).isOk()) return;
  cudaFree(data);
}

void* pinnedAlloc(size_t bytes) {
  void* p = nullptr;
  return cudaMallocHost(&p, bytes) == cudaSuccess ? p : nullptr;
}

void pinnedFree(void* data) {
  if (data) cudaFreeHost(data);
}

Status copyAsync(void* dst, const void* src, size_t bytes, CopyDirection direction, void* stream) {
  if (bytes == 0) return Status::ok();
  const cudaMemcpyKind kind = direction == CopyDirection::kDeviceToHost ? cudaMemcpyDeviceToHost
                              : direction == CopyDirection::kHostToDevice
                                  ? cudaMemcpyHostToDevice
                                  : cudaMemcpyDeviceToDevice;
  if (cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, static_cast<cudaStream_t>(stream));
      e != cudaSuccess) {
    return fail(e, currentDevice(), fmt::format("copying {} bytes", bytes));
  }
  return Status::ok();
}

Status zeroAsync(void* dst, size_t bytes, void* stream) {
  if (bytes == 0) return Status::ok();
  if (cudaError_t e = cudaMemsetAsync(dst, 0, bytes, static_cast<cudaStream_t>(stream));
      e != cudaSuccess) {
    return fail(e, currentDevice(), "zeroing device memory");
  }
  return Status::ok();
}

Status synchronize(void* stream) {
  if (cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(stream)); e != cudaSuccess) {
    return fail(e, currentDevice(), "waiting for the stream");
  }
  return Status::ok();
}

Expected<std::unique_ptr<DeviceStream>> DeviceStream::create(int32_t device) {
  KOLO_RETURN_IF_ERROR(useDevice(device));
  cudaStream_t s = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); e != cudaSuccess) {
    return fail(e, device, "creating Kolo's stream");
  }
  return std::unique_ptr<DeviceStream>(new DeviceStream(device, s));
}

DeviceStream::~DeviceStream() {
  if (stream_ && useDevice(device_).isOk()) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

Expected<std::unique_ptr<DeviceEvent>> DeviceEvent::create(int32_t device) {
  KOLO_RETURN_IF_ERROR(useDevice(device));
  cudaEvent_t ev = nullptr;
  if (cudaError_t e = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming); e != cudaSuccess) {
    return fail(e, device, "creating an event");
  }
  return std::unique_ptr<DeviceEvent>(new DeviceEvent(device, ev));
}

DeviceEvent::~DeviceEvent() {
  if (event_ && useDevice(device_).isOk()) cudaEventDestroy(static_cast<cudaEvent_t>(event_));
}

Status DeviceEvent::record(void* stream) {
  if (cudaError_t e =
          cudaEventRecord(static_cast<cudaEvent_t>(event_), static_cast<cudaStream_t>(stream));
      e != cudaSuccess) {
    return fail(e, device_, "recording an event");
  }
  return Status::ok();
}

Expected<bool> DeviceEvent::query() const {
  const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(event_));
  if (e == cudaSuccess) return true;
  if (e == cudaErrorNotReady) return false;
  return fail(e, device_, "device work failed");
}

Status DeviceEvent::makeWait(void* stream) const {
  if (cudaError_t e = cudaStreamWaitEvent(static_cast<cudaStream_t>(stream),
                                          static_cast<cudaEvent_t>(event_), 0);
      e != cudaSuccess) {
    return fail(e, device_, "ordering streams");
  }
  return Status::ok();
}

#else  // !KOLO_HAVE_CUDA

namespace {
Status notBuilt(int32_t device) {
  return makeStatus(Code::kUnavailable,
                    "gpu:{}: Kolo was built without CUDA (KOLO_WITH_CUDA=OFF); CUDA tensors "
                    "cannot be used",
                    device);
}
}  // namespace

Status useDevice(int32_t device) {
  return notBuilt(device);
}
Expected<std::string> pciBusId(int32_t device) {
  return notBuilt(device);
}
void* deviceAlloc(int32_t, size_t) {
  return nullptr;
}
void deviceFree(int32_t, void*) {}
void* pinnedAlloc(size_t) {
  return nullptr;
}
void pinnedFree(void*) {}
Status copyAsync(void*, const void*, size_t bytes, CopyDirection, void*) {
  return bytes == 0 ? Status::ok() : notBuilt(-1);
}
Status zeroAsync(void*, size_t bytes, void*) {
  return bytes == 0 ? Status::ok() : notBuilt(-1);
}
Status synchronize(void*) {
  return notBuilt(-1);
}
Expected<std::unique_ptr<DeviceStream>> DeviceStream::create(int32_t device) {
  return notBuilt(device);
}
DeviceStream::~DeviceStream() = default;
Expected<std::unique_ptr<DeviceEvent>> DeviceEvent::create(int32_t device) {
  return notBuilt(device);
}
DeviceEvent::~DeviceEvent() = default;
Status DeviceEvent::record(void*) {
  return notBuilt(device_);
}
Expected<bool> DeviceEvent::query() const {
  return notBuilt(device_);
}
Status DeviceEvent::makeWait(void*) const {
  return notBuilt(device_);
}

Expected<int> deviceCount() {
  return Status(Code::kUnavailable, "Kolo was built without CUDA (KOLO_WITH_CUDA=OFF)");
}

#endif

Status orderAfter(void* stream, void* after, DeviceEvent& event) {
  if (stream == after) return Status::ok();
  KOLO_RETURN_IF_ERROR(event.record(after));
  return event.makeWait(stream);
}

}  // namespace kolo::gpu
