/* Misuse and edge inputs through the C ABI, one case per argv[1] so each is its own ctest
 * entry (see CMakeLists.txt and the "Bad input" table in docs/RELIABILITY.md). Started by
 * kolorun (or directly, as a world of one). Exits 0 only if every check on this rank passed;
 * every wait has a timeout, so a hang fails instead of blocking. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kolo.h"
#include "support/c_rank_check.h"


#define WAIT_TIMEOUT 60.0

static kolo_tensor_t tensor_of(void* data, kolo_dtype_t dtype, int32_t ndim, const int64_t* shape) {
  kolo_tensor_t t;
  kolo_tensor_init(&t);
  t.data = data;
  t.output = data;
  t.dtype = dtype;
  t.ndim = ndim;
  t.shape = shape;
  return t;
}

static kolo_status_t allreduce_wait(const char* name, void* data, kolo_dtype_t dtype,
                                    int64_t count, kolo_reduce_op_t op) {
  int64_t shape[1] = {count};
  kolo_tensor_t t = tensor_of(data, dtype, 1, shape);
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.reduce_op = op;
  kolo_handle_t* h = NULL;
  kolo_status_t s = kolo_allreduce_async(NULL, name, &t, &o, &h);
  if (s != KOLO_OK) return s;
  s = kolo_handle_wait(h, WAIT_TIMEOUT);
  kolo_handle_free(h);
  return s;
}

static int contains(const char* haystack, const char* needle) {
  return strstr(haystack, needle) != NULL;
}

/* Before kolo_init and after kolo_shutdown every call fails with KOLO_INVALID_USAGE and says
 * to call kolo_init; the queries return -1. */
static void expect_no_session(const char* when) {
  float x = 1.0f;
  int64_t shape[1] = {1};
  kolo_tensor_t t = tensor_of(&x, KOLO_FLOAT32, 1, shape);
  kolo_handle_t* h = NULL;
  kolo_status_t s = kolo_allreduce_async(NULL, "x", &t, NULL, &h);
  CHECK(s == KOLO_INVALID_USAGE, "allreduce %s: %s", when, kolo_status_name(s));
  CHECK(contains(kolo_last_error(), "kolo_init"), "allreduce %s names kolo_init", when);
  CHECK(h == NULL, "no handle %s", when);
  s = kolo_barrier_async(NULL, "b", NULL, &h);
  CHECK(s == KOLO_INVALID_USAGE, "barrier %s: %s", when, kolo_status_name(s));
  CHECK(kolo_rank(NULL) == -1 && kolo_size(NULL) == -1, "rank/size %s are -1", when);
  s = kolo_shutdown(NULL);
  CHECK(s == KOLO_INVALID_USAGE, "shutdown %s: %s", when, kolo_status_name(s));
}

static void case_lifecycle(void) {
  expect_no_session("before init");
  kolo_session_t* first = NULL;
  CHECK(kolo_init(NULL, &first) == KOLO_OK, "init");
  g_rank = kolo_rank(NULL);
  /* A second init is a second, independent session (the default stays the first). */
  kolo_session_t* second = NULL;
  CHECK(kolo_init(NULL, &second) == KOLO_OK, "second init");
  CHECK(second != first, "second init returns a new session");
  float a = 1.0f, b = 2.0f;
  CHECK(allreduce_wait("on.default", &a, KOLO_FLOAT32, 1, KOLO_SUM) == KOLO_OK, "default op");
  int64_t shape[1] = {1};
  kolo_tensor_t t = tensor_of(&b, KOLO_FLOAT32, 1, shape);
  kolo_handle_t* h = NULL;
  CHECK(kolo_allreduce_async(second, "on.second", &t, NULL, &h) == KOLO_OK, "second op");
  CHECK(h && kolo_handle_wait(h, WAIT_TIMEOUT) == KOLO_OK, "second op completes");
  kolo_handle_free(h);
  CHECK(a == (float)kolo_size(NULL) && b == 2.0f * (float)kolo_size(second), "results %g %g",
        a, b);
  CHECK(kolo_shutdown(second) == KOLO_OK, "shutdown second");
  CHECK(kolo_shutdown(first) == KOLO_OK, "shutdown first");
  expect_no_session("after shutdown");
  /* Re-init after shutdown works and gets a fresh job namespace. */
  CHECK(kolo_init(NULL, &first) == KOLO_OK, "re-init");
  a = 3.0f;
  CHECK(allreduce_wait("after.reinit", &a, KOLO_FLOAT32, 1, KOLO_SUM) == KOLO_OK, "op after re-init");
  CHECK(a == 3.0f * (float)kolo_size(NULL), "re-init result %g", a);
  CHECK(kolo_shutdown(first) == KOLO_OK, "final shutdown");
}

/* Shutdown with a pending handle: rank 0 submits a name nobody else submits; every rank
 * shuts down; the pending handle fails with KOLO_ABORTED within 1 s of the shutdown. */
static void case_shutdown_pending(void) {
  float x = 1.0f;
  int64_t shape[1] = {1};
  kolo_tensor_t t = tensor_of(&x, KOLO_FLOAT32, 1, shape);
  kolo_handle_t* h = NULL;
  if (g_rank == 0) {
    CHECK(kolo_allreduce_async(NULL, "only.rank0", &t, NULL, &h) == KOLO_OK, "submit");
    int done = 1;
    CHECK(kolo_handle_poll(h, &done) == KOLO_OK && !done, "pending before shutdown");
  }
  double start = now_seconds();
  kolo_status_t s = kolo_shutdown(NULL);
  double elapsed = now_seconds() - start;
  CHECK(s == KOLO_OK, "shutdown: %s", kolo_status_name(s));
  if (h) {
    s = kolo_handle_wait(h, 1.0);
    CHECK(s == KOLO_ABORTED, "pending handle after shutdown: %s", kolo_status_name(s));
    CHECK(contains(kolo_last_error(), "only.rank0") || contains(kolo_last_error(), "shut"),
          "message names the tensor or the shutdown");
    kolo_handle_free(h);
  }
  CHECK(elapsed < 30.0, "shutdown took %.1f s", elapsed);
}

/* Two in-flight ops with one name on one rank: the second submit fails at once, naming it.
 * The other ranks submit "dup" only after a barrier that rank 0 enters after its second
 * submit, so the first "dup" is certainly still in flight then. */
static kolo_status_t barrier_wait(const char* name) {
  kolo_handle_t* h = NULL;
  kolo_status_t s = kolo_barrier_async(NULL, name, NULL, &h);
  if (s != KOLO_OK) return s;
  s = kolo_handle_wait(h, WAIT_TIMEOUT);
  kolo_handle_free(h);
  return s;
}

static void case_duplicate_name(void) {
  float a = 1.0f, b = 2.0f;
  int64_t shape[1] = {1};
  kolo_tensor_t ta = tensor_of(&a, KOLO_FLOAT32, 1, shape);
  kolo_tensor_t tb = tensor_of(&b, KOLO_FLOAT32, 1, shape);
  kolo_handle_t *h1 = NULL, *h2 = NULL;
  if (g_rank != 0) CHECK(barrier_wait("dup.gate") == KOLO_OK, "gate");
  CHECK(kolo_allreduce_async(NULL, "dup", &ta, NULL, &h1) == KOLO_OK, "first submit");
  if (g_rank == 0) {
    kolo_status_t s = kolo_allreduce_async(NULL, "dup", &tb, NULL, &h2);
    CHECK(s == KOLO_INVALID_USAGE || s == KOLO_INVALID_ARGUMENT, "second submit: %s",
          kolo_status_name(s));
    CHECK(contains(kolo_last_error(), "dup"), "error names the tensor");
    CHECK(h2 == NULL, "no handle for the duplicate");
    CHECK(barrier_wait("dup.gate") == KOLO_OK, "gate");
  }
  CHECK(h1 && kolo_handle_wait(h1, WAIT_TIMEOUT) == KOLO_OK, "first completes");
  CHECK(a == (float)kolo_size(NULL), "first result %g", a);
  kolo_handle_free(h1);
}

/* A device this build cannot serve, a NULL buffer and a negative dimension fail at submit. */
static void case_bad_tensors(void) {
  float x = 1.0f;
  int64_t shape[1] = {1};
  kolo_tensor_t t = tensor_of(&x, KOLO_FLOAT32, 1, shape);
  t.device = 7;
  kolo_handle_t* h = NULL;
  kolo_status_t s = kolo_allreduce_async(NULL, "wrong.device", &t, NULL, &h);
  if (s == KOLO_OK) {
    /* A CUDA build may accept the submit and fail when no device is present. */
    s = kolo_handle_wait(h, WAIT_TIMEOUT);
    kolo_handle_free(h);
  }
  CHECK(s != KOLO_OK, "device 7 on a host without it must fail");
  CHECK(contains(kolo_last_error(), "7") || contains(kolo_last_error(), "device"),
        "error names the device");
  int64_t negative[1] = {-4};
  t = tensor_of(&x, KOLO_FLOAT32, 1, negative);
  s = kolo_allreduce_async(NULL, "negative.dim", &t, NULL, &h);
  CHECK(s == KOLO_INVALID_ARGUMENT, "negative dimension: %s", kolo_status_name(s));
  t = tensor_of(NULL, KOLO_FLOAT32, 1, shape);
  s = kolo_allreduce_async(NULL, "null.data", &t, NULL, &h);
  CHECK(s == KOLO_INVALID_ARGUMENT, "NULL data with one element: %s", kolo_status_name(s));
  /* Every rank is still in step: a normal op works. */
  CHECK(allreduce_wait("after.bad", &x, KOLO_FLOAT32, 1, KOLO_SUM) == KOLO_OK, "op after");
  CHECK(x == (float)kolo_size(NULL), "op after: %g", x);
}

/* Zero-size and 0-d tensors. */
static void case_zero_and_scalar(void) {
  int n = kolo_size(NULL);
  float scalar = (float)(g_rank + 1);
  kolo_tensor_t t = tensor_of(&scalar, KOLO_FLOAT32, 0, NULL);
  kolo_handle_t* h = NULL;
  CHECK(kolo_allreduce_async(NULL, "scalar", &t, NULL, &h) == KOLO_OK, "0-d submit");
  CHECK(h && kolo_handle_wait(h, WAIT_TIMEOUT) == KOLO_OK, "0-d completes");
  kolo_handle_free(h);
  CHECK(scalar == (float)(n * (n + 1) / 2), "0-d sum %g", scalar);
  float dummy = 42.0f;
  int64_t empty[2] = {0, 5};
  t = tensor_of(&dummy, KOLO_FLOAT32, 2, empty);
  CHECK(kolo_allreduce_async(NULL, "empty", &t, NULL, &h) == KOLO_OK, "empty submit");
  CHECK(h && kolo_handle_wait(h, WAIT_TIMEOUT) == KOLO_OK, "empty completes");
  kolo_handle_free(h);
  CHECK(dummy == 42.0f, "an empty tensor's buffer is not touched");
  /* Allgather concatenates along the first dimension, which a 0-d tensor lacks: it fails at
   * submit on every rank, naming the tensor (reshape to [1] to gather scalars). */
  t = tensor_of(&scalar, KOLO_FLOAT32, 0, NULL);
  h = NULL;
  kolo_status_t s = kolo_allgather_async(NULL, "scalar.gather", &t, NULL, &h);
  CHECK(s == KOLO_INVALID_ARGUMENT, "0-d allgather: %s", kolo_status_name(s));
  CHECK(contains(kolo_last_error(), "scalar.gather") && contains(kolo_last_error(), "dimension"),
        "0-d allgather error names the tensor and the dimension");
  CHECK(h == NULL, "no handle for a rejected allgather");
}

/* NaN and Inf pass through bit-exactly; integer sums wrap (two's complement). */
static void case_special_values(void) {
  int n = kolo_size(NULL);
  const uint32_t kNanPayload = 0x7fc01234u; /* a quiet NaN with a payload */
  float f[4] = {0.0f, 0.0f, 1.0f, -1.0f};
  if (g_rank == 0) {
    memcpy(&f[0], &kNanPayload, sizeof f[0]);
    f[1] = INFINITY;
    f[3] = -INFINITY;
  }
  CHECK(allreduce_wait("nan.inf.f32", f, KOLO_FLOAT32, 4, KOLO_SUM) == KOLO_OK, "f32 submit");
  uint32_t bits;
  memcpy(&bits, &f[0], sizeof bits);
  CHECK(bits == kNanPayload, "NaN payload kept: %08x", bits);
  CHECK(isinf(f[1]) && f[1] > 0, "+Inf kept: %g", f[1]);
  CHECK(f[2] == (float)n, "finite element: %g", f[2]);
  CHECK(isinf(f[3]) && f[3] < 0, "-Inf plus finite stays -Inf: %g", f[3]);

  const uint64_t kNan64 = 0x7ff8000000abcdefull;
  double d[2] = {0.0, 0.0};
  if (g_rank == n - 1) {
    memcpy(&d[0], &kNan64, sizeof d[0]);
    d[1] = -INFINITY;
  }
  CHECK(allreduce_wait("nan.inf.f64", d, KOLO_FLOAT64, 2, KOLO_SUM) == KOLO_OK, "f64 submit");
  uint64_t bits64;
  memcpy(&bits64, &d[0], sizeof bits64);
  CHECK(bits64 == kNan64, "f64 NaN payload kept: %016llx", (unsigned long long)bits64);
  CHECK(isinf(d[1]) && d[1] < 0, "f64 -Inf kept");

  int32_t i32[2] = {2147483647, -2147483647 - 1};
  if (g_rank != 0) i32[0] = 1, i32[1] = -1;
  CHECK(allreduce_wait("wrap.i32", i32, KOLO_INT32, 2, KOLO_SUM) == KOLO_OK, "i32 submit");
  CHECK(i32[0] == (int32_t)(2147483647u + (uint32_t)(n - 1)), "i32 wraps: %d", i32[0]);
  CHECK(i32[1] == (int32_t)(0x80000000u - (uint32_t)(n - 1)), "i32 wraps down: %d", i32[1]);
  int8_t i8[1] = {127};
  CHECK(allreduce_wait("wrap.i8", i8, KOLO_INT8, 1, KOLO_SUM) == KOLO_OK, "i8 submit");
  CHECK(i8[0] == (int8_t)(uint8_t)(127u * (unsigned)n), "i8 wraps: %d", i8[0]);
  uint8_t u8[1] = {200};
  CHECK(allreduce_wait("wrap.u8", u8, KOLO_UINT8, 1, KOLO_SUM) == KOLO_OK, "u8 submit");
  CHECK(u8[0] == (uint8_t)(200u * (unsigned)n), "u8 wraps: %u", u8[0]);
}

/* One real int8 allreduce of 2^31 + 16 elements: counts beyond INT32_MAX are not truncated. */
static void case_huge(void) {
  const int64_t count = (1ll << 31) + 16;
  int n = kolo_size(NULL);
  int8_t* data = malloc((size_t)count);
  CHECK(data != NULL, "allocating %lld bytes", (long long)count);
  if (!data) return;
  for (int64_t i = 0; i < count; ++i) data[i] = (int8_t)((i * 7 + g_rank) & 0x3f);
  double start = now_seconds();
  kolo_status_t s = allreduce_wait("huge.int8", data, KOLO_INT8, count, KOLO_SUM);
  CHECK(s == KOLO_OK, "huge allreduce: %s", kolo_status_name(s));
  int64_t wrong = 0, first_wrong = -1;
  for (int64_t i = 0; i < count; ++i) {
    int expected = 0;
    for (int r = 0; r < n; ++r) expected += (int)((i * 7 + r) & 0x3f);
    if (data[i] != (int8_t)expected) {
      if (first_wrong < 0) first_wrong = i;
      ++wrong;
    }
  }
  CHECK(wrong == 0, "%lld wrong elements, the first at %lld", (long long)wrong,
        (long long)first_wrong);
  printf("rank %d: int8 allreduce of %lld elements in %.1f s\n", g_rank, (long long)count,
         now_seconds() - start);
  free(data);
}

/* 8 threads x 500 ops, submitted in a different random order on every rank. */
struct thread_arg {
  int index;
  int* order;
  int32_t (*data)[16];
  int failed;
};

enum { kThreads = 8, kOpsPerThread = 500, kOps = kThreads * kOpsPerThread };

static void* submit_thread(void* p) {
  struct thread_arg* a = p;
  kolo_handle_t* handles[kOpsPerThread];
  for (int i = 0; i < kOpsPerThread; ++i) {
    int op = a->order[a->index * kOpsPerThread + i];
    char name[32];
    snprintf(name, sizeof name, "storm.%d", op);
    int64_t shape[1] = {16};
    kolo_tensor_t t = tensor_of(a->data[op], KOLO_INT32, 1, shape);
    handles[i] = NULL;
    if (kolo_allreduce_async(NULL, name, &t, NULL, &handles[i]) != KOLO_OK) a->failed = 1;
  }
  for (int i = 0; i < kOpsPerThread; ++i) {
    if (!handles[i] || kolo_handle_wait(handles[i], WAIT_TIMEOUT) != KOLO_OK) a->failed = 1;
    kolo_handle_free(handles[i]);
  }
  return NULL;
}

static void case_thread_storm(void) {
  int n = kolo_size(NULL);
  static int order[kOps];
  static int32_t data[kOps][16];
  for (int i = 0; i < kOps; ++i) order[i] = i;
  srand(4242u + (unsigned)g_rank * 7919u);
  for (int i = kOps - 1; i > 0; --i) {
    int j = rand() % (i + 1), tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  for (int op = 0; op < kOps; ++op)
    for (int j = 0; j < 16; ++j) data[op][j] = op * 16 + j + g_rank;
  pthread_t threads[kThreads];
  struct thread_arg args[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    args[i] = (struct thread_arg){i, order, data, 0};
    pthread_create(&threads[i], NULL, submit_thread, &args[i]);
  }
  for (int i = 0; i < kThreads; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(!args[i].failed, "thread %d had a failed op", i);
  }
  int wrong = 0;
  for (int op = 0; op < kOps; ++op)
    for (int j = 0; j < 16; ++j)
      if (data[op][j] != n * (op * 16 + j) + n * (n - 1) / 2) ++wrong;
  CHECK(wrong == 0, "%d wrong elements after the storm", wrong);
}

int main(int argc, char** argv) {
  const char* which = argc > 1 ? argv[1] : "";
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(which, "lifecycle") == 0) {
    case_lifecycle();
  } else {
    kolo_session_t* session = NULL;
    if (kolo_init(NULL, &session) != KOLO_OK) {
      printf("FAIL: kolo_init: %s\n", kolo_last_error());
      return 1;
    }
    g_rank = kolo_rank(NULL);
    if (strcmp(which, "shutdown_pending") == 0) {
      case_shutdown_pending();
      session = NULL;
    } else if (strcmp(which, "duplicate_name") == 0) {
      case_duplicate_name();
    } else if (strcmp(which, "bad_tensors") == 0) {
      case_bad_tensors();
    } else if (strcmp(which, "zero_and_scalar") == 0) {
      case_zero_and_scalar();
    } else if (strcmp(which, "special_values") == 0) {
      case_special_values();
    } else if (strcmp(which, "huge") == 0) {
      case_huge();
    } else if (strcmp(which, "thread_storm") == 0) {
      case_thread_storm();
    } else {
      printf("FAIL: unknown case '%s'\n", which);
      return 2;
    }
    if (session && kolo_shutdown(session) != KOLO_OK) {
      printf("FAIL rank %d: shutdown: %s\n", g_rank, kolo_last_error());
      ++g_failures;
    }
  }
  if (g_failures == 0) printf("rank %d: %s passed\n", g_rank, which);
  return g_failures == 0 ? 0 : 1;
}
