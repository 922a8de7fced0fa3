/* Kolo's stable C ABI (libkolo.so). Everything is an opaque pointer, a plain struct that
 * starts with its own size (so later versions can add fields), or an integer status. No C++
 * exception crosses it: failures return a kolo_status_t and kolo_last_error() (thread-local)
 * holds the message, which names what went wrong (tensor, ranks, sizes).
 *
 * A session pointer of NULL means the default session: the first one kolo_init() created
 * that has not been shut down.
 * Thread: every function may be called from any thread. */
#ifndef KOLO_H_
#define KOLO_H_

/* A C header: typedefs and <stdint.h> are what C needs. */
/* NOLINTBEGIN(modernize-use-using, modernize-deprecated-headers) */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KOLO_ABI_VERSION 1

#if defined(__GNUC__)
#define KOLO_API __attribute__((visibility("default")))
#else
#define KOLO_API
#endif

typedef enum kolo_status_t {
  KOLO_OK = 0,
  KOLO_INVALID_ARGUMENT = 1,
  KOLO_INVALID_USAGE = 2,
  KOLO_MISMATCH = 3,
  KOLO_TIMEOUT = 4,
  KOLO_IO_ERROR = 5,
  KOLO_REMOTE_ERROR = 6,
  KOLO_ABORTED = 7,
  KOLO_UNAVAILABLE = 8,
  KOLO_INTERNAL = 9
} kolo_status_t;

typedef enum kolo_dtype_t {
  KOLO_FLOAT16 = 0,
  KOLO_BFLOAT16 = 1,
  KOLO_FLOAT32 = 2,
  KOLO_FLOAT64 = 3,
  KOLO_INT8 = 4,
  KOLO_UINT8 = 5,
  KOLO_INT32 = 6,
  KOLO_INT64 = 7,
  KOLO_INT16 = 8 /* appended; NCCL has no int16, so CUDA int16 allreduce is refused there */
} kolo_dtype_t;

typedef enum kolo_reduce_op_t {
  KOLO_SUM = 0,
  KOLO_AVERAGE = 1,
  KOLO_MIN = 2,
  KOLO_MAX = 3,
  KOLO_PRODUCT = 4,
  /* Adasum (allreduce only; floating-point CPU tensors; power-of-two process sets). */
  KOLO_ADASUM = 5
} kolo_reduce_op_t;

typedef struct kolo_session kolo_session_t;
typedef struct kolo_handle kolo_handle_t;

/* Fill with kolo_config_init(); a negative value (or NULL path) keeps what the KOLO_*
 * environment or the default says. */
typedef struct kolo_config_t {
  size_t struct_size;
  int64_t fusion_threshold_bytes;
  int64_t cache_capacity;
  double stall_warning_seconds;
  double stall_shutdown_seconds;
  const char* timeline_path;
} kolo_config_t;

/* A caller-owned tensor in host memory (device -1) or on CUDA device N (device N). data is the
 * input; allreduce and broadcast write to output (NULL: in place). Both stay valid until the
 * handle completes.
 * output_bytes (added in ABI 1 like stream): allgather, alltoall and reducescatter of host
 * tensors write their result to output when output_bytes says how large it is (0: Kolo allocates
 * the result, read with kolo_handle_output); a result of another size fails the op on this rank
 * with KOLO_INVALID_ARGUMENT naming both sizes. An allgather whose data is this rank's block of
 * output runs in place. kolo_handle_output then returns output.
 * stream (added in ABI 1 without a version bump; read only when struct_size covers it, so
 * callers built against the older, shorter struct keep working): for CUDA tensors, the
 * cudaStream_t that produced data (NULL: the legacy default stream). Kolo's work waits for it,
 * and the stream waits for Kolo's result. */
typedef struct kolo_tensor_t {
  size_t struct_size;
  const void* data;
  void* output;
  kolo_dtype_t dtype;
  int32_t ndim;
  const int64_t* shape;
  int32_t device;
  void* stream;
  size_t output_bytes;
} kolo_tensor_t;

typedef struct kolo_op_options_t {
  size_t struct_size;
  kolo_reduce_op_t reduce_op;
  double prescale;
  double postscale;
  int32_t root_rank;
  int32_t process_set;
  const int64_t* splits; /* alltoall: rows to each member; NULL: even split */
  int32_t num_splits;
} kolo_op_options_t;

/* What this build provides; fill with kolo_build_info(), which needs no session. */
typedef struct kolo_build_info_t {
  size_t struct_size;
  int32_t mpi;          /* Open MPI backend and mpirun bootstrap */
  int32_t cuda;         /* CUDA tensors (device >= 0) served by the runtime */
  int32_t nccl;         /* ... on the NCCL backend (otherwise staged through host memory) */
  int32_t nccl_version; /* e.g. 22803; 0 without NCCL */
} kolo_build_info_t;

KOLO_API int kolo_abi_version(void);
/* info->struct_size must be set by the caller (sizeof(kolo_build_info_t)); fields beyond it
 * are left alone, so a caller built against a shorter struct keeps working. */
KOLO_API kolo_status_t kolo_build_info(kolo_build_info_t* info);
/* Where a language runtime should write every thread's stack on SIGUSR1 so Kolo's flight
 * recorder dump (and kolorun's live verdict) carries them; "" when Kolo does not own SIGUSR1
 * in this process or no session is open. Returns the path's length; copies it, NUL-ended,
 * when `capacity` exceeds that length. */
KOLO_API size_t kolo_stack_dump_path(char* out, size_t capacity);
KOLO_API const char* kolo_status_name(kolo_status_t status);
/* The message of the last failure on this thread ("" if none). Valid until the next call. */
KOLO_API const char* kolo_last_error(void);

KOLO_API void kolo_config_init(kolo_config_t* config);
KOLO_API void kolo_tensor_init(kolo_tensor_t* tensor);
KOLO_API void kolo_op_options_init(kolo_op_options_t* options);

/* Joins the job the launcher's environment describes; config may be NULL. */
KOLO_API kolo_status_t kolo_init(const kolo_config_t* config, kolo_session_t** session);
/* Collective. Waits for every rank, fails still-pending ops with KOLO_ABORTED, frees the
 * session. Handles stay valid until kolo_handle_free. */
KOLO_API kolo_status_t kolo_shutdown(kolo_session_t* session);

KOLO_API int kolo_rank(const kolo_session_t* session);
KOLO_API int kolo_size(const kolo_session_t* session);
KOLO_API int kolo_local_rank(const kolo_session_t* session);
KOLO_API int kolo_local_size(const kolo_session_t* session);
KOLO_API int kolo_cross_rank(const kolo_session_t* session);
KOLO_API int kolo_cross_size(const kolo_session_t* session);

/* Asynchronous ops keyed by name; options may be NULL. On success *handle must be freed. */
KOLO_API kolo_status_t kolo_allreduce_async(kolo_session_t* session, const char* name,
                                            const kolo_tensor_t* tensor,
                                            const kolo_op_options_t* options,
                                            kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_grouped_allreduce_async(kolo_session_t* session, int32_t count,
                                                    const char* const* names,
                                                    const kolo_tensor_t* tensors,
                                                    const kolo_op_options_t* options,
                                                    kolo_handle_t** handle);
/* Grouped allgather / reducescatter (Horovod's grouped_allgather, grouped_reducescatter):
 * negotiated as one unit, fused into as few collectives as the fusion buffer allows, complete
 * together. One dtype per group, host tensors only. Tensor i's output: kolo_handle_output_at(i). */
KOLO_API kolo_status_t kolo_grouped_allgather_async(kolo_session_t* session, int32_t count,
                                                    const char* const* names,
                                                    const kolo_tensor_t* tensors,
                                                    const kolo_op_options_t* options,
                                                    kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_grouped_reducescatter_async(kolo_session_t* session, int32_t count,
                                                        const char* const* names,
                                                        const kolo_tensor_t* tensors,
                                                        const kolo_op_options_t* options,
                                                        kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_allgather_async(kolo_session_t* session, const char* name,
                                            const kolo_tensor_t* tensor,
                                            const kolo_op_options_t* options,
                                            kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_broadcast_async(kolo_session_t* session, const char* name,
                                            const kolo_tensor_t* tensor,
                                            const kolo_op_options_t* options,
                                            kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_alltoall_async(kolo_session_t* session, const char* name,
                                           const kolo_tensor_t* tensor,
                                           const kolo_op_options_t* options,
                                           kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_reducescatter_async(kolo_session_t* session, const char* name,
                                                const kolo_tensor_t* tensor,
                                                const kolo_op_options_t* options,
                                                kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_barrier_async(kolo_session_t* session, const char* name,
                                          const kolo_op_options_t* options, kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_join_async(kolo_session_t* session, const kolo_op_options_t* options,
                                       kolo_handle_t** handle);

/* Point-to-point, not collective: only this rank and the peer take part. dst/src is a rank of
 * options->process_set (NULL options: the world), tag in 0 .. 2^31-1. Messages of one
 * (peer, tag) match in posting order. A receive whose dtype or element count differs from the
 * send fails on both ranks with KOLO_MISMATCH naming both sides. send reads tensor->data, recv
 * writes tensor->output (data when output is NULL). The handle completes once the message was
 * delivered (send) or arrived (recv); a lost peer fails it with KOLO_IO_ERROR naming the rank.
 * CPU tensors only. Wait with kolo_handle_wait for the blocking form. */
KOLO_API kolo_status_t kolo_send_async(kolo_session_t* session, const kolo_tensor_t* tensor,
                                       int32_t dst, int32_t tag, const kolo_op_options_t* options,
                                       kolo_handle_t** handle);
KOLO_API kolo_status_t kolo_recv_async(kolo_session_t* session, const kolo_tensor_t* tensor,
                                       int32_t src, int32_t tag, const kolo_op_options_t* options,
                                       kolo_handle_t** handle);

/* *done = 1 once the op finished (successfully or not); never blocks. */
KOLO_API kolo_status_t kolo_handle_poll(const kolo_handle_t* handle, int* done);
/* The op's status; timeout_seconds < 0 waits for ever; KOLO_TIMEOUT leaves it pending. */
KOLO_API kolo_status_t kolo_handle_wait(const kolo_handle_t* handle, double timeout_seconds);
/* Outputs Kolo allocated (allgather, alltoall, reducescatter): valid until the handle is
 * freed. shape may be NULL; otherwise it receives up to max_ndim dimensions. */
KOLO_API kolo_status_t kolo_handle_output(const kolo_handle_t* handle, const void** data,
                                          size_t* bytes, int32_t* ndim, int64_t* shape,
                                          int32_t max_ndim);
/* The same for output `index` of a grouped allgather/reducescatter (0 .. count-1);
 * KOLO_INVALID_ARGUMENT for an index out of range. */
KOLO_API kolo_status_t kolo_handle_output_at(const kolo_handle_t* handle, int32_t index,
                                             const void** data, size_t* bytes, int32_t* ndim,
                                             int64_t* shape, int32_t max_ndim);
/* Alltoall: rows received from each member, in member order. *count receives the number of
 * members; splits (may be NULL) receives up to max_count of them. */
KOLO_API kolo_status_t kolo_handle_received_splits(const kolo_handle_t* handle, int64_t* splits,
                                                   int32_t max_count, int32_t* count);
/* Join: the rank that joined last; -1 otherwise. */
KOLO_API int32_t kolo_handle_last_joined_rank(const kolo_handle_t* handle);
KOLO_API void kolo_handle_free(kolo_handle_t* handle);

/* Collective over every rank, same order everywhere. */
KOLO_API kolo_status_t kolo_add_process_set(kolo_session_t* session, const int32_t* ranks,
                                            int32_t count, int32_t* id);
KOLO_API kolo_status_t kolo_remove_process_set(kolo_session_t* session, int32_t id);

/* A Chrome-trace timeline (what KOLO_TIMELINE writes) started and stopped at run time. Rank 0
 * writes the file; on other ranks both calls succeed and do nothing. Starting again with the
 * path already open is a no-op; another path while one is open is KOLO_INVALID_USAGE. Stopping
 * closes the file as complete JSON; with none open it is a no-op. mark_cycles != 0 adds a mark
 * per coordinator cycle. Not collective. */
KOLO_API kolo_status_t kolo_start_timeline(kolo_session_t* session, const char* path,
                                           int mark_cycles);
KOLO_API kolo_status_t kolo_stop_timeline(kolo_session_t* session);

/* Elastic jobs (kolorun --min-np): *joined receives the membership generation this session
 * joined and *latest the newest kolorun has published (larger: ranks left or were added, and
 * the job should re-form: shut down and init again). Both are -1 outside an elastic job. */
KOLO_API kolo_status_t kolo_membership_generation(const kolo_session_t* session, int64_t* joined,
                                                  int64_t* latest);

#ifdef __cplusplus
}
#endif

/* NOLINTEND(modernize-use-using, modernize-deprecated-headers) */
#endif /* KOLO_H_ */
