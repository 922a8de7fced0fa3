/* One rank of the multi-process runtime test, written in C against libkolo.so only (so it
 * also proves kolo.h is plain C). Started by kolorun with 2..4 ranks; exits 0 only if every
 * check on this rank passed. Every wait has a timeout, so a hang fails instead of blocking. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kolo.h"
#include "support/c_rank_check.h"


#define WAIT_TIMEOUT 30.0

static kolo_tensor_t f32(float* data, int32_t ndim, const int64_t* shape) {
  kolo_tensor_t t;
  kolo_tensor_init(&t);
  t.data = data;
  t.output = data;
  t.dtype = KOLO_FLOAT32;
  t.ndim = ndim;
  t.shape = shape;
  return t;
}

static kolo_handle_t* submit_allreduce(const char* name, float* data, int64_t count,
                                       const kolo_op_options_t* options) {
  int64_t shape[1] = {count};
  kolo_tensor_t t = f32(data, 1, shape);
  kolo_handle_t* h = NULL;
  kolo_status_t s = kolo_allreduce_async(NULL, name, &t, options, &h);
  CHECK(s == KOLO_OK, "allreduce_async '%s': %s", name, kolo_status_name(s));
  return h;
}

static void wait_ok(kolo_handle_t* h, const char* what) {
  if (!h) return;
  kolo_status_t s = kolo_handle_wait(h, WAIT_TIMEOUT);
  CHECK(s == KOLO_OK, "%s: %s", what, kolo_status_name(s));
}

/* Several rounds of named tensors (tiny, fused, >= 1 MiB in place, empty); rounds after the
 * first come from the response cache. */
static void test_allreduce_rounds(int n) {
  static const int64_t sizes[] = {1, 7, 1000, 300000, 0, 33};
  enum { kTensors = sizeof(sizes) / sizeof(sizes[0]) };
  for (int round = 0; round < 3; ++round) {
    float* bufs[kTensors];
    kolo_handle_t* hs[kTensors];
    for (int t = 0; t < kTensors; ++t) {
      bufs[t] = malloc(sizeof(float) * (size_t)(sizes[t] + 1));
      for (int64_t j = 0; j < sizes[t]; ++j) bufs[t][j] = (float)((g_rank + 1) * (j % 5 + 1) + t);
      char name[64];
      snprintf(name, sizeof name, "grad.%d", t);
      hs[t] = submit_allreduce(name, bufs[t], sizes[t], NULL);
    }
    for (int t = 0; t < kTensors; ++t) {
      wait_ok(hs[t], "allreduce round");
      for (int64_t j = 0; j < sizes[t]; ++j) {
        float expected = (float)(n * (n + 1) / 2 * (j % 5 + 1) + n * t);
        if (bufs[t][j] != expected) {
          CHECK(0, "round %d tensor %d [%lld]: %g != %g", round, t, (long long)j, bufs[t][j],
                expected);
          break;
        }
      }
      kolo_handle_free(hs[t]);
      free(bufs[t]);
    }
  }
}

struct thread_arg {
  int first, step, count;
  int* order;
  float (*data)[64];
  int failed;
};

static void* submit_thread(void* p) {
  struct thread_arg* a = p;
  kolo_handle_t* hs[32];
  int k = 0;
  for (int i = a->first; i < a->count; i += a->step) {
    char name[64];
    snprintf(name, sizeof name, "shuffled.%d", a->order[i]);
    hs[k++] = submit_allreduce(name, a->data[a->order[i]], 64, NULL);
  }
  for (int i = 0; i < k; ++i) {
    if (!hs[i] || kolo_handle_wait(hs[i], WAIT_TIMEOUT) != KOLO_OK) a->failed = 1;
    kolo_handle_free(hs[i]);
  }
  return NULL;
}

/* Each rank submits 24 names in its own random order from 3 threads. */
static void test_random_order_threads(int n) {
  enum { kCount = 24, kThreads = 3 };
  static float data[kCount][64];
  int order[kCount];
  for (int i = 0; i < kCount; ++i) order[i] = i;
  srand(1000u + (unsigned)g_rank * 7919u);
  for (int i = kCount - 1; i > 0; --i) {
    int j = rand() % (i + 1), tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  for (int t = 0; t < kCount; ++t)
    for (int j = 0; j < 64; ++j) data[t][j] = (float)(g_rank + t);
  pthread_t threads[kThreads];
  struct thread_arg args[kThreads];
  for (int i = 0; i < kThreads; ++i) {
    args[i] = (struct thread_arg){i, kThreads, kCount, order, data, 0};
    pthread_create(&threads[i], NULL, submit_thread, &args[i]);
  }
  for (int i = 0; i < kThreads; ++i) {
    pthread_join(threads[i], NULL);
    CHECK(!args[i].failed, "thread %d had a failed op", i);
  }
  for (int t = 0; t < kCount; ++t) {
    float expected = (float)(n * (n - 1) / 2 + n * t);
    CHECK(data[t][63] == expected, "shuffled %d: %g != %g", t, data[t][63], expected);
  }
}

/* A barrier completes while rank 0 still has a named allreduce pending (submitted first),
 * and its handle polls as not done before the others submit. */
static void test_barrier_while_pending(int n) {
  float v[4] = {1, 1, 1, 1};
  kolo_handle_t* pending = NULL;
  if (g_rank == 0) {
    pending = submit_allreduce("after.barrier", v, 4, NULL);
    int done = 1;
    kolo_handle_poll(pending, &done);
    CHECK(done == 0, "handle ready before the other ranks submitted");
  }
  kolo_handle_t* b = NULL;
  CHECK(kolo_barrier_async(NULL, "barrier.1", NULL, &b) == KOLO_OK, "barrier submit");
  wait_ok(b, "barrier");
  kolo_handle_free(b);
  if (g_rank != 0) pending = submit_allreduce("after.barrier", v, 4, NULL);
  wait_ok(pending, "allreduce after barrier");
  CHECK(v[3] == (float)n, "after barrier: %g", v[3]);
  kolo_handle_free(pending);
}

static void test_allgather_broadcast_alltoall_reducescatter(int n) {
  /* allgather: rank r has r+1 rows of 3. */
  float rows[4 * 3];
  for (int i = 0; i < 3 * (g_rank + 1); ++i) rows[i] = (float)(10 * g_rank + i / 3);
  int64_t shape[2] = {g_rank + 1, 3};
  kolo_tensor_t t = f32(rows, 2, shape);
  kolo_handle_t* h = NULL;
  CHECK(kolo_allgather_async(NULL, "gather", &t, NULL, &h) == KOLO_OK, "allgather submit");
  wait_ok(h, "allgather");
  const void* out = NULL;
  size_t bytes = 0;
  int32_t ndim = 0;
  int64_t dims[4] = {0};
  CHECK(kolo_handle_output(h, &out, &bytes, &ndim, dims, 4) == KOLO_OK, "allgather output");
  const int total_rows = n * (n + 1) / 2;
  CHECK(ndim == 2 && dims[0] == total_rows && dims[1] == 3 &&
            bytes == sizeof(float) * 3 * (size_t)total_rows,
        "allgather shape %d [%lld,%lld] bytes %zu", ndim, (long long)dims[0], (long long)dims[1],
        bytes);
  int row = 0;
  for (int q = 0; q < n && out; ++q) {
    for (int k = 0; k <= q; ++k, ++row) {
      CHECK(((const float*)out)[row * 3 + 2] == (float)(10 * q + k), "allgather row %d", row);
    }
  }
  kolo_handle_free(h);

  /* broadcast from the last rank. */
  float b[5];
  for (int i = 0; i < 5; ++i) b[i] = (float)g_rank;
  int64_t bshape[1] = {5};
  kolo_tensor_t bt = f32(b, 1, bshape);
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.root_rank = n - 1;
  CHECK(kolo_broadcast_async(NULL, "bcast", &bt, &o, &h) == KOLO_OK, "broadcast submit");
  wait_ok(h, "broadcast");
  CHECK(b[4] == (float)(n - 1), "broadcast got %g", b[4]);
  kolo_handle_free(h);

  /* alltoall: one row of 2 to every rank, holding 100*src + dst. */
  float a[8 * 2];
  for (int q = 0; q < n; ++q) a[2 * q] = a[2 * q + 1] = (float)(100 * g_rank + q);
  int64_t ashape[2] = {n, 2};
  kolo_tensor_t at = f32(a, 2, ashape);
  CHECK(kolo_alltoall_async(NULL, "a2a", &at, NULL, &h) == KOLO_OK, "alltoall submit");
  wait_ok(h, "alltoall");
  CHECK(kolo_handle_output(h, &out, &bytes, &ndim, dims, 4) == KOLO_OK, "alltoall output");
  for (int q = 0; q < n && out; ++q) {
    CHECK(((const float*)out)[2 * q] == (float)(100 * q + g_rank), "alltoall from %d", q);
  }
  kolo_handle_free(h);

  /* reducescatter: n+1 rows of 1: rank 0 gets 2 rows, the others 1. */
  float r[9];
  for (int i = 0; i <= n; ++i) r[i] = (float)(i + g_rank);
  int64_t rshape[1] = {n + 1};
  kolo_tensor_t rt = f32(r, 1, rshape);
  CHECK(kolo_reducescatter_async(NULL, "rs", &rt, NULL, &h) == KOLO_OK, "reducescatter submit");
  wait_ok(h, "reducescatter");
  CHECK(kolo_handle_output(h, &out, &bytes, &ndim, dims, 4) == KOLO_OK, "rs output");
  const int first = g_rank == 0 ? 0 : g_rank + 1;
  CHECK(out && bytes == sizeof(float) * (g_rank == 0 ? 2u : 1u) &&
            ((const float*)out)[0] == (float)(n * first + n * (n - 1) / 2),
        "reducescatter got %g (bytes %zu)", out ? ((const float*)out)[0] : -1.0f, bytes);
  kolo_handle_free(h);
}

/* Rank 1 disagrees on the shape: every rank gets KOLO_MISMATCH naming the tensor in < 1 s,
 * and the session stays usable. */
static void test_mismatch(int n) {
  float v[6] = {1, 1, 1, 1, 1, 1};
  int64_t shape[2] = {g_rank == 1 ? 3 : 2, g_rank == 1 ? 2 : 3};
  kolo_tensor_t t = f32(v, 2, shape);
  kolo_handle_t* h = NULL;
  double start = now_seconds();
  CHECK(kolo_allreduce_async(NULL, "skewed", &t, NULL, &h) == KOLO_OK, "submit");
  kolo_status_t s = kolo_handle_wait(h, WAIT_TIMEOUT);
  CHECK(s == KOLO_MISMATCH && strstr(kolo_last_error(), "'skewed'") &&
            strstr(kolo_last_error(), "shape"),
        "expected a shape mismatch, got %s", kolo_status_name(s));
  CHECK(now_seconds() - start < 1.0, "mismatch took %.3f s", now_seconds() - start);
  kolo_handle_free(h);
  h = submit_allreduce("after.mismatch", v, 6, NULL);
  wait_ok(h, "after mismatch");
  CHECK(v[0] == (float)n, "after mismatch: %g", v[0]);
  kolo_handle_free(h);
}

/* Rank 1 disagrees on one more field per name; every rank gets KOLO_MISMATCH naming it. */
static void test_more_mismatches(void) {
  static const char* const kFields[] = {"dtype", "reduce op", "prescale", "root"};
  for (int k = 0; k < 4; ++k) {
    float v[4] = {1, 1, 1, 1};
    int64_t shape[1] = {4};
    kolo_tensor_t t = f32(v, 1, shape);
    kolo_op_options_t o;
    kolo_op_options_init(&o);
    const int skewed = g_rank == 1;
    if (k == 0 && skewed) t.dtype = KOLO_INT32;
    if (k == 1 && skewed) o.reduce_op = KOLO_MAX;
    if (k == 2 && skewed) o.prescale = 0.5;
    if (k == 3) o.root_rank = skewed ? 1 : 0;
    char name[32];
    snprintf(name, sizeof name, "skew.%d", k);
    kolo_handle_t* h = NULL;
    kolo_status_t s = k == 3 ? kolo_broadcast_async(NULL, name, &t, &o, &h)
                             : kolo_allreduce_async(NULL, name, &t, &o, &h);
    CHECK(s == KOLO_OK, "submit %s", name);
    s = kolo_handle_wait(h, WAIT_TIMEOUT);
    CHECK(s == KOLO_MISMATCH && strstr(kolo_last_error(), name) &&
              strstr(kolo_last_error(), kFields[k]),
          "%s: expected a %s mismatch, got %s", name, kFields[k], kolo_status_name(s));
    kolo_handle_free(h);
  }
}

/* Rank r runs r+1 averaged steps and joins; joined ranks contribute zeros. */
static void test_join(int n) {
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.reduce_op = KOLO_AVERAGE;
  for (int step = 0; step <= g_rank; ++step) {
    float g[3] = {(float)n, (float)n, (float)n};
    char name[32];
    snprintf(name, sizeof name, "join.step.%d", step);
    kolo_handle_t* h = submit_allreduce(name, g, 3, &o);
    wait_ok(h, "join step");
    CHECK(g[0] == (float)(n - step), "join step %d: %g", step, g[0]);
    kolo_handle_free(h);
  }
  kolo_handle_t* j = NULL;
  CHECK(kolo_join_async(NULL, NULL, &j) == KOLO_OK, "join submit");
  wait_ok(j, "join");
  CHECK(kolo_handle_last_joined_rank(j) == n - 1, "last joined %d",
        kolo_handle_last_joined_rank(j));
  kolo_handle_free(j);
}

/* Evens and odds each get a set; both sets and the world run at once, several rounds. */
static void test_process_sets(int n) {
  int32_t evens[4], odds[4], ne = 0, no = 0;
  for (int r = 0; r < n; ++r) {
    if (r % 2 == 0)
      evens[ne++] = r;
    else
      odds[no++] = r;
  }
  int32_t even_id = -1, odd_id = -1;
  CHECK(kolo_add_process_set(NULL, evens, ne, &even_id) == KOLO_OK && even_id > 0, "add evens");
  CHECK(kolo_add_process_set(NULL, odds, no, &odd_id) == KOLO_OK && odd_id > even_id, "add odds");
  const int mine = g_rank % 2 == 0 ? even_id : odd_id;
  const int members = g_rank % 2 == 0 ? ne : no;
  for (int round = 0; round < 5; ++round) {
    kolo_op_options_t o;
    kolo_op_options_init(&o);
    o.process_set = mine;
    float v[1000], w[3] = {1, 1, 1};
    for (int i = 0; i < 1000; ++i) v[i] = 1.0f;
    kolo_handle_t* h = submit_allreduce("set.grad", v, 1000, &o);
    kolo_handle_t* world = submit_allreduce("world.grad", w, 3, NULL);
    wait_ok(h, "set allreduce");
    wait_ok(world, "world allreduce");
    CHECK(v[999] == (float)members && w[2] == (float)n, "round %d: set sum %g world sum %g", round,
          v[999], w[2]);
    kolo_handle_free(h);
    kolo_handle_free(world);
  }
  CHECK(kolo_remove_process_set(NULL, mine) == KOLO_OK, "remove set");
}

/* Run with a short KOLO_STALL_SHUTDOWN_SECONDS: the last rank never submits "stuck", so the
 * others' handles fail naming it; then everyone meets again. */
static int run_stall(void) {
  kolo_session_t* s = NULL;
  if (kolo_init(NULL, &s) != KOLO_OK) {
    printf("FAIL kolo_init: %s\n", kolo_last_error());
    return 1;
  }
  g_rank = kolo_rank(s);
  const int n = kolo_size(s);
  if (g_rank != n - 1) {
    float v[2] = {1, 1};
    kolo_handle_t* h = submit_allreduce("stuck", v, 2, NULL);
    kolo_status_t st = kolo_handle_wait(h, WAIT_TIMEOUT);
    char missing[64];
    snprintf(missing, sizeof missing, "missing ranks [%d]", n - 1);
    CHECK(st == KOLO_ABORTED && strstr(kolo_last_error(), "'stuck'") &&
              strstr(kolo_last_error(), missing),
          "stalled op: %s", kolo_status_name(st));
    kolo_handle_free(h);
  } else {
    struct timespec pause = {2, 0};
    nanosleep(&pause, NULL);
  }
  /* A barrier that waits past the stall time is aborted too; it is simply submitted again
   * (a failed name is free for reuse) until the last rank, asleep so far, joins it. */
  for (int k = 0; k < 20; ++k) {
    kolo_handle_t* b = NULL;
    CHECK(kolo_barrier_async(NULL, "after.stall", NULL, &b) == KOLO_OK, "barrier submit");
    kolo_status_t st = kolo_handle_wait(b, WAIT_TIMEOUT);
    kolo_handle_free(b);
    if (st == KOLO_OK) break;
    CHECK(st == KOLO_ABORTED, "barrier after stall: %s", kolo_status_name(st));
  }
  CHECK(kolo_shutdown(s) == KOLO_OK, "shutdown");
  printf("rank %d: %s (%d failures)\n", g_rank, g_failures ? "FAILED" : "passed", g_failures);
  return g_failures ? 1 : 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "stall") == 0) return run_stall();
  for (int session = 0; session < 2; ++session) { /* the second proves re-init works */
    kolo_session_t* s = NULL;
    kolo_status_t st = kolo_init(NULL, &s);
    if (st != KOLO_OK) {
      printf("FAIL kolo_init: %s: %s\n", kolo_status_name(st), kolo_last_error());
      return 1;
    }
    g_rank = kolo_rank(s);
    const int n = kolo_size(s);
    if (session == 0) {
      test_allreduce_rounds(n);
      test_random_order_threads(n);
      test_barrier_while_pending(n);
      test_allgather_broadcast_alltoall_reducescatter(n);
      test_mismatch(n);
      test_more_mismatches();
      test_join(n);
      test_process_sets(n);
    } else {
      test_allreduce_rounds(n);
    }
    st = kolo_shutdown(s);
    CHECK(st == KOLO_OK, "shutdown: %s", kolo_status_name(st));
  }
  printf("rank %d: %s (%d failures)\n", g_rank, g_failures ? "FAILED" : "passed", g_failures);
  return g_failures ? 1 : 0;
}
