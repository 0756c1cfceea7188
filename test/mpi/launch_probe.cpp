// A program that owns MPI through mpinit::launch and prints one line per rank: its identity as
// JSON-ish key=value pairs, or "ERROR <message>" (exit 3). Used by the process-level tests.
#include <cstdio>

#include "mpinit/mpinit.hpp"

int main(int argc, char** argv) {
  try {
    auto s = mpinit::launch(argc, argv);
    const auto& id = s.identity();
    std::printf("OK rank=%d size=%d local_rank=%d local_size=%d node_rank=%d node_count=%d host=%s launcher=%s owns=%d\n",
                id.rank, id.size, id.local_rank, id.local_size, id.node_rank,
                id.node_count, id.host.c_str(), mpinit::to_string(id.launcher), s.owns_mpi() ? 1 : 0);
    std::fflush(stdout);
    return 0;
  } catch (const mpinit::Error& e) {
    std::printf("ERROR %s\n", e.what());
    std::fflush(stdout);
    return 3;
  }
}
