// The few CUDA runtime calls Kolo needs, behind plain C++ signatures: streams and events are
// opaque pointers, so runtime/core compiles without CUDA headers and a build without CUDA
// links stubs that answer kUnavailable. Every failure names the device ("gpu:N") and the
// CUDA error, so a CUDA tensor on a machine without a device becomes a clear error.
// Thread: any; a stream or event is used by one thread at a time (the coordinator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kolo/base/status.h"

namespace kolo::gpu {

// Makes `device` current on this thread; kUnavailable naming "gpu:N" and the reason (not
// built with CUDA, no driver, no such device).
Status useDevice(int32_t device);

// The device's PCI bus id ("0000:3b:00.0"): ranks that report the same id share one GPU.
Expected<std::string> pciBusId(int32_t device);

// Device memory; the pointer is null on failure (the error is logged by the caller).
void* deviceAlloc(int32_t device, size_t bytes);
void deviceFree(int32_t device, void* data);

// Page-locked host memory, so device<->host copies run at full speed and can be async.
void* pinnedAlloc(size_t bytes);
void pinnedFree(void* data);

enum class CopyDirection { kDeviceToHost, kHostToDevice, kDeviceToDevice };
// Enqueues a copy on `stream` (null: the legacy default stream).
Status copyAsync(void* dst, const void* src, size_t bytes, CopyDirection direction, void* stream);
Status zeroAsync(void* dst, size_t bytes, void* stream);
Status synchronize(void* stream);

// Kolo's own stream on one device: non-blocking (it never waits on the legacy default
// stream implicitly; ordering with callers' streams is explicit, through events).
class DeviceStream {
 public:
  static Expected<std::unique_ptr<DeviceStream>> create(int32_t device);
  ~DeviceStream();
  DeviceStream(const DeviceStream&) = delete;
  DeviceStream& operator=(const DeviceStream&) = delete;
  void* handle() const { return stream_; }
  int32_t device() const { return device_; }

 private:
  DeviceStream(int32_t device, void* stream) : device_(device), stream_(stream) {}
  int32_t device_;
  void* stream_;
};

// A timing-free event (cheapest to record and query).
class DeviceEvent {
 public:
  static Expected<std::unique_ptr<DeviceEvent>> create(int32_t device);
  ~DeviceEvent();
  DeviceEvent(const DeviceEvent&) = delete;
  DeviceEvent& operator=(const DeviceEvent&) = delete;

  Status record(void* stream);
  // Never blocks: true once the work recorded before it finished.
  Expected<bool> query() const;
  // Makes `stream` wait (on the device, not the host) for the recorded work.
  Status makeWait(void* stream) const;

 private:
  DeviceEvent(int32_t device, void* event) : device_(device), event_(event) {}
  int32_t device_;
  void* event_;
};

// Orders `stream` after everything already enqueued on `after` (e.g. Kolo's stream after the
// caller's), using `event`; no-op when both are the same stream.
Status orderAfter(void* stream, void* after, DeviceEvent& event);

}  // namespace kolo::gpu
