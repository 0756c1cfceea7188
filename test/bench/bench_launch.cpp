// One side of the launch benchmark: `bare` times MPI_Init_thread + MPI_Finalize, `launch` times
// mpinit::launch + the session's end (which finalizes). Rank 0 prints the slowest rank's time
// in microseconds: "BENCH <mode> <ranks> <usec>". scripts/bench_launch.py runs both side by side.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "mpinit/mpinit.hpp"

int main(int argc, char** argv) {
  // "bare": MPI_Init_thread alone; "connected": MPI_Init_thread and one MPI_Allreduce, the first
  // message between nodes (Open MPI opens TCP connections on first use); "launch": mpinit::launch.
  const bool connected = argc > 1 && std::strcmp(argv[1], "connected") == 0;
  const bool bare = connected || (argc > 1 && std::strcmp(argv[1], "bare") == 0);
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  double init_us = 0;
  int rank = 0, size = 1;
  if (bare) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    if (connected) {
      int one = 1, sum = 0;
      MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    }
    init_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double slowest = 0;
    MPI_Reduce(&init_us, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0) std::printf("BENCH %s %d %.1f\n", connected ? "connected" : "bare", size, slowest);
  } else {
    auto s = mpinit::launch(argc, argv);
    init_us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    rank = s.identity().rank;
    size = s.identity().size;
    double slowest = 0;
    MPI_Reduce(&init_us, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, s.comm());
    if (rank == 0) std::printf("BENCH launch %d %.1f\n", size, slowest);
  }
  return 0;
}
