/* Not a test: the startup benchmark's Open MPI side (bench/startup/slurm_startup.sh): MPI_Init,
 * one 4-byte MPI_Allreduce, checked, MPI_Finalize. */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int value = rank + 1;
  MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  const int want = size * (size + 1) / 2;
  if (rank == 0) printf("first allreduce over %d ranks: %d (want %d)\n", size, value, want);
  MPI_Finalize();
  return value == want ? 0 : 1;
}
