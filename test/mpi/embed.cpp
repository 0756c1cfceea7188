// Embedding: the application initializes MPI, splits COMM_WORLD into two halves, launches mpinit
// on each half, checks that the identity is relative to its half, ends the session, and keeps
// using MPI afterwards. A plain main(): exit 0 on success, 1 with a message per failed check.
#include <mpi.h>

#include <cstdio>

#include "mpinit/mpinit.hpp"

static int failures = 0;
#define CHECK(cond)                                                                             \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "[rank %d] %s:%d: check failed: %s\n", wrank, __FILE__, __LINE__, #cond); \
      ++failures;                                                                               \
    }                                                                                           \
  } while (0)

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int wrank = 0, wsize = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);

  const int half_id = wrank < wsize / 2 ? 0 : 1;  // a lower and an upper half
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, half_id, wrank, &half);
  int hrank = 0, hsize = 0;
  MPI_Comm_rank(half, &hrank);
  MPI_Comm_size(half, &hsize);
  {
    mpinit::Options opts;
    opts.comm = half;
    try {
      auto s = mpinit::launch(argc, argv, opts);
      const auto& id = s.identity();
      CHECK(!s.owns_mpi());
      CHECK(id.rank == hrank);
      CHECK(id.size == hsize);
      CHECK(id.rank == (half_id == 0 ? wrank : wrank - wsize / 2));
      CHECK(id.local_size == hsize);  // one machine: the whole half is on this node
      CHECK(id.local_rank == hrank);
      CHECK(id.node_count == 1);
      int cmp = MPI_UNEQUAL;
      MPI_Comm_compare(s.comm(), half, &cmp);
      CHECK(cmp == MPI_CONGRUENT);
      // A collective on the session's communicator stays inside the half.
      int one = 1, sum = 0;
      MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, s.comm());
      CHECK(sum == hsize);
    } catch (const mpinit::Error& e) {
      std::fprintf(stderr, "[rank %d] launch failed: %s\n", wrank, e.what());
      ++failures;
    }
  }
  // After the session: MPI is still initialized and usable, on the half and on the world.
  int finalized = 1, initialized = 0;
  MPI_Finalized(&finalized);
  MPI_Initialized(&initialized);
  CHECK(!finalized && initialized);
  int sum = 0;
  MPI_Allreduce(&wrank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  CHECK(sum == wsize * (wsize - 1) / 2);
  MPI_Comm_free(&half);

  int any = 0;
  MPI_Allreduce(&failures, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (wrank == 0) std::printf("embed: %d ranks, %s\n", wsize, any ? "FAILED" : "ok");
  MPI_Finalize();
  return any ? 1 : 0;
}
