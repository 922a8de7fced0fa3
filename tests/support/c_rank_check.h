/* What the C rank programs of the multi-process tests share (runtime_mp.c, misuse_mp.c): a
 * CHECK that reports a failed condition with this rank, the line and Kolo's last error without
 * stopping the rank, and a monotonic clock. Include once per program (it defines its state). */
#ifndef KOLO_TESTS_SUPPORT_C_RANK_CHECK_H_
#define KOLO_TESTS_SUPPORT_C_RANK_CHECK_H_

#include <stdio.h>
#include <time.h>

#include "kolo.h"

static int g_failures = 0;
static int g_rank = -1;

#define CHECK(cond, ...)                                  \
  do {                                                    \
    if (!(cond)) {                                        \
      printf("FAIL rank %d line %d: ", g_rank, __LINE__); \
      printf(__VA_ARGS__);                                \
      printf(" [last error: %s]\n", kolo_last_error());   \
      fflush(stdout);                                     \
      ++g_failures;                                       \
    }                                                     \
  } while (0)

static inline double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif /* KOLO_TESTS_SUPPORT_C_RANK_CHECK_H_ */
