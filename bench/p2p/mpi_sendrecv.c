/* Open MPI's side of `kolo-bench sendrecv` (bench/p2p/run_sendrecv.sh runs both): the same
 * sizes and columns, MPI_Sendrecv around a ring (send to rank+1, receive from rank-1) or, with
 * --pingpong, MPI_Send/MPI_Recv bounced between ranks 0 and 1 (time: half the round trip).
 * Time is the median over the iterations of the slowest rank (MPI_MAX over ranks).
 *   mpirun -np 2 mpi_sendrecv [--pingpong] [min_bytes max_bytes iters warmup]
 * float32 elements; exits 1 if a received element differs from what its sender wrote. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static float pattern(int rank, size_t i) { return (float)((i * 13 + (size_t)rank * 29) % 101); }

static void exchange(float* out, float* in, int count, int pingpong, int rank, int size) {
  if (!pingpong) {
    MPI_Sendrecv(out, count, MPI_FLOAT, (rank + 1) % size, 0, in, count, MPI_FLOAT,
                 (rank + size - 1) % size, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else if (rank == 0) {
    MPI_Send(out, count, MPI_FLOAT, 1, 1, MPI_COMM_WORLD);
    MPI_Recv(in, count, MPI_FLOAT, 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else if (rank == 1) {
    MPI_Recv(in, count, MPI_FLOAT, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(in, count, MPI_FLOAT, 0, 2, MPI_COMM_WORLD);
  }
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size, pingpong = 0, a = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc > 1 && strcmp(argv[1], "--pingpong") == 0) pingpong = a++;
  size_t lo = argc > a ? strtoull(argv[a], NULL, 10) : 8;
  size_t hi = argc > a + 1 ? strtoull(argv[a + 1], NULL, 10) : (size_t)64 << 20;
  int iters = argc > a + 2 ? atoi(argv[a + 2]) : 20, warmup = argc > a + 3 ? atoi(argv[a + 3]) : 5;
  float* out = malloc(hi + 4);
  float* in = malloc(hi + 4);
  double* t = malloc(sizeof(double) * (size_t)iters);
  double* slow = malloc(sizeof(double) * (size_t)iters);
  unsigned long long wrong_total = 0;
  if (rank == 0) {
    printf("# mpi_sendrecv: %d ranks, Open MPI, %s; time = median over %d iterations (%d "
           "warmup) of the slowest rank%s\n#%12s %12s %8s %11s %12s %12s %8s\n",
           size, pingpong ? "ping-pong between ranks 0 and 1" : "ring of MPI_Sendrecv", iters,
           warmup, pingpong ? ", halved (one way)" : "", "size", "count", "type", "time(us)",
           "algbw(GB/s)", "busbw(GB/s)", "#wrong");
  }
  for (size_t bytes = lo; bytes <= hi; bytes *= 2) {
    int count = (int)(bytes / 4);
    if (count == 0) continue;
    for (int i = 0; i < count; ++i) out[i] = pattern(rank, (size_t)i);
    for (int it = 0; it < warmup + iters; ++it) {
      double start = MPI_Wtime();
      exchange(out, in, count, pingpong, rank, size);
      if (it >= warmup) t[it - warmup] = (MPI_Wtime() - start) * 1e6;
    }
    MPI_Allreduce(t, slow, iters, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    memset(in, 0xA5, (size_t)count * 4);
    exchange(out, in, count, pingpong, rank, size);
    int from = pingpong ? 0 : (rank + size - 1) % size;
    unsigned long long wrong = 0, all = 0;
    if (!pingpong || rank <= 1)
      for (int i = 0; i < count; ++i) wrong += in[i] != pattern(from, (size_t)i);
    MPI_Allreduce(&wrong, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    wrong_total += all;
    double us = median(slow, iters) / (pingpong ? 2 : 1);
    double bw = us > 0 ? (double)count * 4 / us / 1e3 : 0;
    if (rank == 0)
      printf(" %12zu %12d %8s %11.2f %12.3f %12.3f %8llu\n", (size_t)count * 4, count, "float32",
             us, bw, bw, all);
    fflush(stdout);
  }
  free(out);
  free(in);
  free(t);
  free(slow);
  MPI_Finalize();
  return wrong_total ? 1 : 0;
}
