// The C ABI's handle entry points: completion (poll, wait), results, and freeing.
#include <string>
#include <vector>

#include "kolo_c_internal.h"

using kolo::cabi::fail;
using kolo::cabi::guarded;

extern "C" {

kolo_status_t kolo_handle_poll(const kolo_handle_t* handle, int* done) {
  return guarded([&]() -> kolo_status_t {
    if (!handle || !done) return fail(KOLO_INVALID_ARGUMENT, "handle or done is NULL");
    *done = handle->handle.poll() ? 1 : 0;
    return KOLO_OK;
  });
}

kolo_status_t kolo_handle_wait(const kolo_handle_t* handle, double timeout_seconds) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle is NULL");
    kolo::Status s = handle->handle.wait(timeout_seconds);
    return s.isOk() ? KOLO_OK : fail(s);
  });
}

kolo_status_t kolo_handle_output(const kolo_handle_t* handle, const void** data, size_t* bytes,
                                 int32_t* ndim, int64_t* shape, int32_t max_ndim) {
  return kolo_handle_output_at(handle, 0, data, bytes, ndim, shape, max_ndim);
}

kolo_status_t kolo_handle_output_at(const kolo_handle_t* handle, int32_t index, const void** data,
                                    size_t* bytes, int32_t* ndim, int64_t* shape,
                                    int32_t max_ndim) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle is NULL");
    if (!handle->handle.poll()) {
      return fail(KOLO_UNAVAILABLE, "the op has not completed; wait for the handle first");
    }
    const size_t count = handle->handle.outputCount();
    if (index < 0 || static_cast<size_t>(index) >= count) {
      return fail(KOLO_INVALID_ARGUMENT, "output index " + std::to_string(index) +
                                             " is out of range: the op has " +
                                             std::to_string(count) + " outputs");
    }
    const auto part = static_cast<size_t>(index);
    if (data) *data = handle->handle.outputData(part);
    if (bytes) *bytes = handle->handle.outputBytes(part);
    const std::vector<int64_t> dims = handle->handle.outputShape(part);
    if (ndim) *ndim = static_cast<int32_t>(dims.size());
    if (shape) {
      for (int32_t i = 0; i < max_ndim && static_cast<size_t>(i) < dims.size(); ++i) {
        shape[i] = dims[static_cast<size_t>(i)];
      }
    }
    return KOLO_OK;
  });
}

kolo_status_t kolo_handle_received_splits(const kolo_handle_t* handle, int64_t* splits,
                                          int32_t max_count, int32_t* count) {
  return guarded([&]() -> kolo_status_t {
    if (!handle || !count) return fail(KOLO_INVALID_ARGUMENT, "handle or count is NULL");
    if (!handle->handle.poll()) {
      return fail(KOLO_UNAVAILABLE, "the op has not completed; wait for the handle first");
    }
    const std::vector<int64_t> received = handle->handle.receivedSplits();
    *count = static_cast<int32_t>(received.size());
    for (int32_t i = 0; splits && i < max_count && static_cast<size_t>(i) < received.size(); ++i) {
      splits[i] = received[static_cast<size_t>(i)];
    }
    return KOLO_OK;
  });
}

int32_t kolo_handle_last_joined_rank(const kolo_handle_t* handle) {
  return handle ? handle->handle.lastJoinedRank() : -1;
}

void kolo_handle_free(kolo_handle_t* handle) {
  delete handle;
}

}  // extern "C"
