// One side of the topology benchmark (scripts/bench_topology.py runs both side by side):
//   shared: launch()'s topology phase (local rank 0 discovers, exports XML, broadcasts; the
//           others import); prints the slowest rank's phase time and the leader's discovery time.
//   each:   every rank discovers the topology itself at the same time (what peers do).
// Rank 0 prints "BENCH <mode> <ranks> <slowest ms> <discoveries>".
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "mpinit/mpinit.hpp"

int main(int argc, char** argv) {
  const bool each = argc > 1 && std::strcmp(argv[1], "each") == 0;
  mpinit::Options o;
  o.placement = !each;
  o.bind = false;  // time the topology, not the binding
  auto s = mpinit::launch(argc, argv, o);
  double ms = 0;
  int discovered = 0;
  if (each) {
    MPI_Barrier(s.comm());
    auto t0 = std::chrono::steady_clock::now();
    auto t = mpinit::discover_topology();
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    discovered = 1;
    (void)t;
  } else {
    for (const auto& p : s.timings())
      if (p.phase == "topology") ms = p.seconds * 1e3;
    discovered = s.discovered_topology() ? 1 : 0;
  }
  double slowest = 0;
  int total = 0;
  MPI_Reduce(&ms, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, s.comm());
  MPI_Reduce(&discovered, &total, 1, MPI_INT, MPI_SUM, 0, s.comm());
  if (s.identity().rank == 0)
    std::printf("BENCH %s %d %.2f %d\n", each ? "each" : "shared", s.identity().size, slowest, total);
  return 0;
}
