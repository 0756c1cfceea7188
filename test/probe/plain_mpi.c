/* A plain MPI program for the MPI_Init probe's self-test (test_probe.py): nothing of mpinit in it.
 *
 *   plain_mpi [init|thread] [HELPER_CPU]
 *
 * Calls MPI_Init (or MPI_Init_thread, asking for MPI_THREAD_FUNNELED), MPI_Barrier, MPI_Finalize.
 * With HELPER_CPU it first starts a thread bound to that one CPU, alive until MPI_Init returns, so
 * that the probe has a second thread whose affinity differs from the main thread's. Built with
 * -DPLAIN_MPI_CUDA (plain_mpi_cuda), it also picks CUDA device `rank % count` before MPI_Init,
 * where CUDA sees a device. After MPI_Init each rank prints one line:
 *   rank R size N pid I function F provided P cuda D   (D: the device set, or -1 for none)
 * with P -1 after MPI_Init. */
#include <mpi.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef PLAIN_MPI_CUDA
#include <cuda_runtime_api.h>
#endif

static pthread_barrier_t mpi_started;

static void* helper(void* arg) {
  (void)arg;
  pthread_barrier_wait(&mpi_started);
  return NULL;
}

static int launcher_rank(void) {
  const char* vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK"};
  for (int i = 0; i < 2; ++i)
    if (getenv(vars[i])) return atoi(getenv(vars[i]));
  return 0;
}

static int pick_cuda_device(void) {
#ifdef PLAIN_MPI_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return -1;
  int device = launcher_rank() % count;
  return cudaSetDevice(device) == cudaSuccess ? device : -1;
#else
  (void)launcher_rank;
  return -1;
#endif
}

int main(int argc, char** argv) {
  const int use_thread = argc > 1 && strcmp(argv[1], "thread") == 0;
  const int helper_cpu = argc > 2 ? atoi(argv[2]) : -1;
  pthread_t thread;
  if (helper_cpu >= 0) {
    pthread_barrier_init(&mpi_started, NULL, 2);
    if (pthread_create(&thread, NULL, helper, NULL) != 0) return 2;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(helper_cpu, &one);
    if (pthread_setaffinity_np(thread, sizeof one, &one) != 0) return 3;
  }
  const int device = pick_cuda_device();
  int provided = -1;
  if (use_thread)
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  else
    MPI_Init(&argc, &argv);
  if (helper_cpu >= 0) {
    pthread_barrier_wait(&mpi_started);
    pthread_join(thread, NULL);
  }
  int rank = -1, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Barrier(MPI_COMM_WORLD);
  printf("rank %d size %d pid %ld function %s provided %d cuda %d\n", rank, size, (long)getpid(),
         use_thread ? "MPI_Init_thread" : "MPI_Init", provided, device);
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
