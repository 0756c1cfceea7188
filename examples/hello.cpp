#include <mpinit/mpinit.hpp>
#include <cstdio>

int main(int argc, char** argv) {
  auto s = mpinit::launch(argc, argv);  // MPI_Init_thread (or adopt), identity, checks
  const auto& id = s.identity();
  std::printf("rank %d/%d, local %d/%d, node %d/%d on %s\n", id.rank, id.size,
              id.local_rank, id.local_size, id.node_rank, id.node_count,
              id.host.c_str());
  MPI_Barrier(s.comm());                // the session's own duplicate of MPI_COMM_WORLD
}                                       // ~Session frees its communicators and finalizes MPI
