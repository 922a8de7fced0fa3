// The C ABI over the public C++ API. Every entry point catches everything, so no exception
// (not even std::bad_alloc) crosses into C, Python or a framework built with another libstdc++.
// The only global state is the default session pointer and the thread-local error message.
#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "kolo_c_internal.h"

namespace kolo::cabi {
namespace {
thread_local std::string tLastError;
const char* lastError() {
  return tLastError.c_str();
}
}  // namespace

kolo_status_t fail(const kolo::Status& s) {
  tLastError = s.message();
  return static_cast<kolo_status_t>(s.code());
}

kolo_status_t fail(kolo_status_t code, std::string message) {
  tLastError = std::move(message);
  return code;
}

}  // namespace kolo::cabi

namespace {

using kolo::cabi::fail;
using kolo::cabi::guarded;

std::mutex gDefaultMutex;
kolo_session_t* gDefault = nullptr;  // guarded by gDefaultMutex

kolo_session_t* resolve(kolo_session_t* s) {
  if (s) return s;
  std::lock_guard lock(gDefaultMutex);
  return gDefault;
}

const kolo_session_t* resolve(const kolo_session_t* s) {
  return resolve(const_cast<kolo_session_t*>(s));
}

// kolo_tensor_t grew by `stream` within ABI 1: a caller's shorter struct (up to `device`) is
// still accepted, and has no stream.
bool hasStream(const kolo_tensor_t& t) {
  return t.struct_size >= offsetof(kolo_tensor_t, stream) + sizeof(void*);
}
bool hasOutputBytes(const kolo_tensor_t& t) {
  return t.struct_size >= offsetof(kolo_tensor_t, output_bytes) + sizeof(size_t);
}

kolo_status_t checkTensor(const kolo_tensor_t* t) {
  if (!t) return fail(KOLO_INVALID_ARGUMENT, "tensor is NULL");
  if (t->struct_size < offsetof(kolo_tensor_t, stream)) {
    return fail(KOLO_INVALID_ARGUMENT, "kolo_tensor_t.struct_size is " +
                                           std::to_string(t->struct_size) +
                                           "; initialize it with kolo_tensor_init()");
  }
  if (t->ndim < 0 || (t->ndim > 0 && !t->shape)) {
    return fail(KOLO_INVALID_ARGUMENT, "tensor has ndim " + std::to_string(t->ndim) +
                                           (t->shape ? "" : " and a NULL shape"));
  }
  if (static_cast<int>(t->dtype) < 0 || static_cast<int>(t->dtype) > KOLO_INT16) {  // the last
    return fail(KOLO_INVALID_ARGUMENT, "unknown dtype " + std::to_string(t->dtype));
  }
  return KOLO_OK;
}

// kolo_tensor_t as the kolo::Tensor the runtime takes: the same fields (the shape copied out
// of the caller's array), nothing else. `t` passed checkTensor.
kolo::Tensor toTensor(const kolo_tensor_t& t) {
  return kolo::Tensor{t.data,
                      t.output,
                      static_cast<kolo::DataType>(t.dtype),
                      std::vector<int64_t>(t.shape, t.shape + t.ndim),
                      t.device,
                      hasStream(t) ? t.stream : nullptr,
                      hasOutputBytes(t) ? t.output_bytes : 0};
}

kolo_status_t toOptions(const kolo_op_options_t* o, kolo::OpOptions& out) {
  if (!o) return KOLO_OK;
  if (o->struct_size < sizeof(kolo_op_options_t)) {
    return fail(KOLO_INVALID_ARGUMENT, "kolo_op_options_t.struct_size is " +
                                           std::to_string(o->struct_size) +
                                           "; initialize it with kolo_op_options_init()");
  }
  if (static_cast<int>(o->reduce_op) < 0 || static_cast<int>(o->reduce_op) > KOLO_ADASUM) {
    return fail(KOLO_INVALID_ARGUMENT, "unknown reduce op " + std::to_string(o->reduce_op));
  }
  if (o->num_splits < 0 || (o->num_splits > 0 && !o->splits)) {
    return fail(KOLO_INVALID_ARGUMENT,
                "invalid splits (count " + std::to_string(o->num_splits) + ")");
  }
  out.reduceOp = static_cast<kolo::ReduceOp>(o->reduce_op);
  out.prescale = o->prescale;
  out.postscale = o->postscale;
  out.rootRank = o->root_rank;
  out.processSet = o->process_set;
  out.splits.assign(o->splits, o->splits + o->num_splits);
  return KOLO_OK;
}

kolo_status_t deliver(kolo::Expected<kolo::Handle> h, kolo_handle_t** out) {
  if (!h.hasValue()) return fail(h.status());
  *out = new kolo_handle{std::move(h).value()};
  return KOLO_OK;
}

// The common shape of the ops on one tensor: handle, session, the name when the op has one
// (`name` non-null), tensor and options checked in that order, then `submit(session, tensor,
// options)`.
template <typename Submit>
kolo_status_t oneTensorOp(kolo_session_t* session, const char* const* name,
                          const kolo_tensor_t* tensor, const kolo_op_options_t* options,
                          kolo_handle_t** handle, Submit submit) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle output pointer is NULL");
    *handle = nullptr;
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    if (name && !*name) return fail(KOLO_INVALID_ARGUMENT, "tensor name is NULL");
    kolo::OpOptions o;
    if (kolo_status_t st = checkTensor(tensor); st != KOLO_OK) return st;
    if (kolo_status_t st = toOptions(options, o); st != KOLO_OK) return st;
    return deliver(submit(s->session, toTensor(*tensor), o), handle);
  });
}

// The named single-tensor collectives.
template <typename Submit>
kolo_status_t tensorOp(kolo_session_t* session, const char* name, const kolo_tensor_t* tensor,
                       const kolo_op_options_t* options, kolo_handle_t** handle, Submit submit) {
  return oneTensorOp(session, &name, tensor, options, handle,
                     [&](auto& sess, const kolo::Tensor& t, const kolo::OpOptions& o) {
                       return submit(sess, std::string(name), t, o);
                     });
}

// send and recv: a tensor and a peer rank of the options' process set, no name.
kolo_status_t peerOp(kolo_session_t* session, bool isSend, const kolo_tensor_t* tensor,
                     int32_t peer, int32_t tag, const kolo_op_options_t* options,
                     kolo_handle_t** handle) {
  return oneTensorOp(session, nullptr, tensor, options, handle,
                     [&](auto& sess, const kolo::Tensor& t, const kolo::OpOptions& o) {
                       return isSend ? sess.send(t, peer, tag, o) : sess.recv(t, peer, tag, o);
                     });
}

// The grouped ops' common part: checks the arrays, converts them, then `run(session, names,
// tensors, options)`.
template <typename Run>
kolo_status_t groupedOp(kolo_session_t* session, const char* what, int32_t count,
                        const char* const* names, const kolo_tensor_t* tensors,
                        const kolo_op_options_t* options, kolo_handle_t** handle, Run run) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle output pointer is NULL");
    *handle = nullptr;
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    if (count <= 0 || !names || !tensors) {
      return fail(KOLO_INVALID_ARGUMENT,
                  std::string("grouped ") + what + " needs count > 0, names and tensors");
    }
    std::vector<std::string> ns;
    std::vector<kolo::Tensor> ts;
    ts.reserve(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) {
      if (!names[i]) return fail(KOLO_INVALID_ARGUMENT, "name " + std::to_string(i) + " is NULL");
      ns.emplace_back(names[i]);
      if (kolo_status_t st = checkTensor(&tensors[i]); st != KOLO_OK) return st;
      ts.push_back(toTensor(tensors[i]));
    }
    kolo::OpOptions o;
    if (kolo_status_t st = toOptions(options, o); st != KOLO_OK) return st;
    return deliver(run(s->session, ns, ts, o), handle);
  });
}

}  // namespace

extern "C" {

int kolo_abi_version(void) {
  return KOLO_ABI_VERSION;
}

kolo_status_t kolo_build_info(kolo_build_info_t* info) {
  return guarded([&]() -> kolo_status_t {
    if (!info || info->struct_size < offsetof(kolo_build_info_t, nccl_version) + sizeof(int32_t)) {
      return fail(KOLO_INVALID_ARGUMENT,
                  "kolo_build_info needs a kolo_build_info_t with struct_size set");
    }
    const kolo::BuildInfo b = kolo::buildInfo();
    info->mpi = b.mpi ? 1 : 0;
    info->cuda = b.cuda ? 1 : 0;
    info->nccl = b.nccl ? 1 : 0;
    info->nccl_version = b.ncclVersion;
    return KOLO_OK;
  });
}

const char* kolo_status_name(kolo_status_t status) {
  static const char* const kNames[] = {
      "KOLO_OK",          "KOLO_INVALID_ARGUMENT", "KOLO_INVALID_USAGE", "KOLO_MISMATCH",
      "KOLO_TIMEOUT",     "KOLO_IO_ERROR",         "KOLO_REMOTE_ERROR",  "KOLO_ABORTED",
      "KOLO_UNAVAILABLE", "KOLO_INTERNAL"};
  if (status < KOLO_OK || status > KOLO_INTERNAL) return "KOLO_UNKNOWN_STATUS";
  return kNames[status];
}

const char* kolo_last_error(void) {
  return kolo::cabi::lastError();
}

void kolo_config_init(kolo_config_t* c) {
  if (!c) return;
  *c = kolo_config_t{sizeof(kolo_config_t), -1, -1, -1.0, -1.0, nullptr};
}

void kolo_tensor_init(kolo_tensor_t* t) {
  if (!t) return;
  *t = kolo_tensor_t{
      sizeof(kolo_tensor_t), nullptr, nullptr, KOLO_FLOAT32, 0, nullptr, -1, nullptr, 0};
}

void kolo_op_options_init(kolo_op_options_t* o) {
  if (!o) return;
  *o = kolo_op_options_t{sizeof(kolo_op_options_t), KOLO_SUM, 1.0, 1.0, 0, 0, nullptr, 0};
}

kolo_status_t kolo_init(const kolo_config_t* config, kolo_session_t** session) {
  return guarded([&]() -> kolo_status_t {
    if (!session) return fail(KOLO_INVALID_ARGUMENT, "session output pointer is NULL");
    *session = nullptr;
    kolo::SessionConfig c;
    if (config) {
      if (config->struct_size < sizeof(kolo_config_t)) {
        return fail(KOLO_INVALID_ARGUMENT, "kolo_config_t.struct_size is " +
                                               std::to_string(config->struct_size) +
                                               "; initialize it with kolo_config_init()");
      }
      if (config->fusion_threshold_bytes >= 0) {
        c.fusionThresholdBytes = static_cast<uint64_t>(config->fusion_threshold_bytes);
      }
      if (config->cache_capacity >= 0)
        c.cacheCapacity = static_cast<size_t>(config->cache_capacity);
      if (config->stall_warning_seconds >= 0) c.stallWarningSeconds = config->stall_warning_seconds;
      if (config->stall_shutdown_seconds >= 0) {
        c.stallShutdownSeconds = config->stall_shutdown_seconds;
      }
      if (config->timeline_path) c.timelinePath = std::string(config->timeline_path);
    }
    auto s = kolo::Session::init(c);
    if (!s.hasValue()) return fail(s.status());
    *session = new kolo_session{std::move(s).value()};
    std::lock_guard lock(gDefaultMutex);
    if (!gDefault) gDefault = *session;
    return KOLO_OK;
  });
}

kolo_status_t kolo_shutdown(kolo_session_t* session) {
  return guarded([&]() -> kolo_status_t {
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session to shut down");
    kolo::Status status = s->session.shutdown();
    {
      std::lock_guard lock(gDefaultMutex);
      if (gDefault == s) gDefault = nullptr;
    }
    delete s;
    return status.isOk() ? KOLO_OK : fail(status);
  });
}

#define KOLO_SESSION_INT(fn, method)            \
  int fn(const kolo_session_t* session) {       \
    const kolo_session_t* s = resolve(session); \
    return s ? s->session.method() : -1;        \
  }
KOLO_SESSION_INT(kolo_rank, rank)
KOLO_SESSION_INT(kolo_size, size)
KOLO_SESSION_INT(kolo_local_rank, localRank)
KOLO_SESSION_INT(kolo_local_size, localSize)
KOLO_SESSION_INT(kolo_cross_rank, crossRank)
KOLO_SESSION_INT(kolo_cross_size, crossSize)

kolo_status_t kolo_allreduce_async(kolo_session_t* session, const char* name,
                                   const kolo_tensor_t* tensor, const kolo_op_options_t* options,
                                   kolo_handle_t** handle) {
  return tensorOp(
      session, name, tensor, options, handle,
      [](auto& s, const auto& n, const auto& t, const auto& o) { return s.allreduce(n, t, o); });
}

kolo_status_t kolo_allgather_async(kolo_session_t* session, const char* name,
                                   const kolo_tensor_t* tensor, const kolo_op_options_t* options,
                                   kolo_handle_t** handle) {
  return tensorOp(
      session, name, tensor, options, handle,
      [](auto& s, const auto& n, const auto& t, const auto& o) { return s.allgather(n, t, o); });
}

kolo_status_t kolo_broadcast_async(kolo_session_t* session, const char* name,
                                   const kolo_tensor_t* tensor, const kolo_op_options_t* options,
                                   kolo_handle_t** handle) {
  return tensorOp(
      session, name, tensor, options, handle,
      [](auto& s, const auto& n, const auto& t, const auto& o) { return s.broadcast(n, t, o); });
}

kolo_status_t kolo_alltoall_async(kolo_session_t* session, const char* name,
                                  const kolo_tensor_t* tensor, const kolo_op_options_t* options,
                                  kolo_handle_t** handle) {
  return tensorOp(
      session, name, tensor, options, handle,
      [](auto& s, const auto& n, const auto& t, const auto& o) { return s.alltoall(n, t, o); });
}

kolo_status_t kolo_reducescatter_async(kolo_session_t* session, const char* name,
                                       const kolo_tensor_t* tensor,
                                       const kolo_op_options_t* options, kolo_handle_t** handle) {
  return tensorOp(session, name, tensor, options, handle,
                  [](auto& s, const auto& n, const auto& t, const auto& o) {
                    return s.reducescatter(n, t, o);
                  });
}

kolo_status_t kolo_grouped_allreduce_async(kolo_session_t* session, int32_t count,
                                           const char* const* names, const kolo_tensor_t* tensors,
                                           const kolo_op_options_t* options,
                                           kolo_handle_t** handle) {
  return groupedOp(session, "allreduce", count, names, tensors, options, handle,
                   [](auto& s, const auto& n, const auto& t, const auto& o) {
                     return s.groupedAllreduce(n, t, o);
                   });
}

kolo_status_t kolo_grouped_allgather_async(kolo_session_t* session, int32_t count,
                                           const char* const* names, const kolo_tensor_t* tensors,
                                           const kolo_op_options_t* options,
                                           kolo_handle_t** handle) {
  return groupedOp(session, "allgather", count, names, tensors, options, handle,
                   [](auto& s, const auto& n, const auto& t, const auto& o) {
                     return s.groupedAllgather(n, t, o);
                   });
}

kolo_status_t kolo_grouped_reducescatter_async(kolo_session_t* session, int32_t count,
                                               const char* const* names,
                                               const kolo_tensor_t* tensors,
                                               const kolo_op_options_t* options,
                                               kolo_handle_t** handle) {
  return groupedOp(session, "reducescatter", count, names, tensors, options, handle,
                   [](auto& s, const auto& n, const auto& t, const auto& o) {
                     return s.groupedReducescatter(n, t, o);
                   });
}

kolo_status_t kolo_barrier_async(kolo_session_t* session, const char* name,
                                 const kolo_op_options_t* options, kolo_handle_t** handle) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle output pointer is NULL");
    *handle = nullptr;
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    if (!name) return fail(KOLO_INVALID_ARGUMENT, "barrier name is NULL");
    kolo::OpOptions o;
    if (kolo_status_t st = toOptions(options, o); st != KOLO_OK) return st;
    return deliver(s->session.barrier(name, o), handle);
  });
}

kolo_status_t kolo_join_async(kolo_session_t* session, const kolo_op_options_t* options,
                              kolo_handle_t** handle) {
  return guarded([&]() -> kolo_status_t {
    if (!handle) return fail(KOLO_INVALID_ARGUMENT, "handle output pointer is NULL");
    *handle = nullptr;
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    kolo::OpOptions o;
    if (kolo_status_t st = toOptions(options, o); st != KOLO_OK) return st;
    return deliver(s->session.join(o), handle);
  });
}

kolo_status_t kolo_send_async(kolo_session_t* session, const kolo_tensor_t* tensor, int32_t dst,
                              int32_t tag, const kolo_op_options_t* options,
                              kolo_handle_t** handle) {
  return peerOp(session, true, tensor, dst, tag, options, handle);
}

kolo_status_t kolo_recv_async(kolo_session_t* session, const kolo_tensor_t* tensor, int32_t src,
                              int32_t tag, const kolo_op_options_t* options,
                              kolo_handle_t** handle) {
  return peerOp(session, false, tensor, src, tag, options, handle);
}

kolo_status_t kolo_add_process_set(kolo_session_t* session, const int32_t* ranks, int32_t count,
                                   int32_t* id) {
  return guarded([&]() -> kolo_status_t {
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    if (!ranks || count <= 0 || !id) {
      return fail(KOLO_INVALID_ARGUMENT, "add_process_set needs ranks, count > 0 and id");
    }
    auto r = s->session.addProcessSet(std::vector<int32_t>(ranks, ranks + count));
    if (!r.hasValue()) return fail(r.status());
    *id = r.value();
    return KOLO_OK;
  });
}

kolo_status_t kolo_remove_process_set(kolo_session_t* session, int32_t id) {
  return guarded([&]() -> kolo_status_t {
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    kolo::Status st = s->session.removeProcessSet(id);
    return st.isOk() ? KOLO_OK : fail(st);
  });
}

kolo_status_t kolo_start_timeline(kolo_session_t* session, const char* path, int mark_cycles) {
  return guarded([&]() -> kolo_status_t {
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    if (!path) return fail(KOLO_INVALID_ARGUMENT, "timeline path is NULL");
    kolo::Status st = s->session.startTimeline(path, mark_cycles != 0);
    return st.isOk() ? KOLO_OK : fail(st);
  });
}

kolo_status_t kolo_membership_generation(const kolo_session_t* session, int64_t* joined,
                                         int64_t* latest) {
  return guarded([&]() -> kolo_status_t {
    if (!joined || !latest) return fail(KOLO_INVALID_ARGUMENT, "output pointer is NULL");
    const kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    auto generations = s->session.membershipGeneration();
    if (!generations.hasValue()) return fail(generations.status());
    *joined = generations.value().first;
    *latest = generations.value().second;
    return KOLO_OK;
  });
}

kolo_status_t kolo_stop_timeline(kolo_session_t* session) {
  return guarded([&]() -> kolo_status_t {
    kolo_session_t* s = resolve(session);
    if (!s) return fail(KOLO_INVALID_USAGE, "no session: call kolo_init first");
    kolo::Status st = s->session.stopTimeline();
    return st.isOk() ? KOLO_OK : fail(st);
  });
}

}  // extern "C"
