// MPI calls and bytes per rank during launch(), counted by PMPI interposition: this program
// defines the MPI functions mpinit calls (they win over libmpi's for libmpinit too) and forwards
// to PMPI_*. MPI is initialized first and not counted; launch() adopts it. Rank 0 prints, per
// function, the most calls and bytes any rank made, and the largest single buffer:
//   CALLS <fn> <max calls per rank> <max bytes per rank> <largest buffer bytes>
//   TOTAL <ranks> <max calls per rank> <max bytes per rank> <largest buffer bytes>
// Bytes are the larger of what a call sends and what it receives at this rank.
// `bench_mpi_calls nccl-ids` counts instead one nccl_unique_ids() over the session's
// communicator, after an uncounted launch(), with MPINIT_NCCL_RANKS_PER_ROOT ranks per root (set
// it small to get many roots on few ranks); built without NCCL it prints nothing and exits 77.
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "mpinit/mpinit.hpp"

namespace {

bool counting = false;
struct Tally {
  long calls = 0, bytes = 0, largest = 0;
};
std::map<std::string, Tally>& tallies() {
  static std::map<std::string, Tally> t;
  return t;
}
long type_bytes(int count, MPI_Datatype t) {
  int size = 0;
  PMPI_Type_size(t, &size);
  return static_cast<long>(count) * size;
}
int comm_size(MPI_Comm c) {
  int n = 0;
  PMPI_Comm_size(c, &n);
  return n;
}
void note(const char* fn, long bytes) {
  if (!counting) return;
  Tally& t = tallies()[fn];
  ++t.calls;
  t.bytes += bytes;
  if (bytes > t.largest) t.largest = bytes;
}

}  // namespace

extern "C" {
int MPI_Bcast(void* buf, int count, MPI_Datatype t, int root, MPI_Comm c) {
  note("MPI_Bcast", type_bytes(count, t));
  return PMPI_Bcast(buf, count, t, root, c);
}
int MPI_Allreduce(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  note("MPI_Allreduce", type_bytes(count, t));
  return PMPI_Allreduce(s, r, count, t, op, c);
}
int MPI_Exscan(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  note("MPI_Exscan", type_bytes(count, t));
  return PMPI_Exscan(s, r, count, t, op, c);
}
int MPI_Allgather(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, MPI_Comm c) {
  note("MPI_Allgather", type_bytes(rc, rt) * comm_size(c));
  return PMPI_Allgather(s, sc, st, r, rc, rt, c);
}
int MPI_Allgatherv(const void* s, int sc, MPI_Datatype st, void* r, const int* rc, const int* displs, MPI_Datatype rt,
                   MPI_Comm c) {
  long total = 0;
  for (int i = 0, n = comm_size(c); i < n; ++i) total += rc[i];
  note("MPI_Allgatherv", type_bytes(static_cast<int>(total), rt));
  return PMPI_Allgatherv(s, sc, st, r, rc, displs, rt, c);
}
int MPI_Gather(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, int root, MPI_Comm c) {
  int me = 0;
  PMPI_Comm_rank(c, &me);
  note("MPI_Gather", me == root ? type_bytes(rc, rt) * comm_size(c) : type_bytes(sc, st));
  return PMPI_Gather(s, sc, st, r, rc, rt, root, c);
}
int MPI_Barrier(MPI_Comm c) {
  note("MPI_Barrier", 0);
  return PMPI_Barrier(c);
}
int MPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm* out) {
  note("MPI_Comm_split_type", 0);
  return PMPI_Comm_split_type(c, type, key, info, out);
}
int MPI_Comm_split(MPI_Comm c, int color, int key, MPI_Comm* out) {
  note("MPI_Comm_split", 0);
  return PMPI_Comm_split(c, color, key, out);
}
int MPI_Comm_dup(MPI_Comm c, MPI_Comm* out) {
  note("MPI_Comm_dup", 0);
  return PMPI_Comm_dup(c, out);
}
}

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
  PMPI_Comm_size(MPI_COMM_WORLD, &size);
  const bool nccl_ids = argc > 1 && std::strcmp(argv[1], "nccl-ids") == 0;
  if (nccl_ids && !MPINIT_HAVE_NCCL) {
    MPI_Finalize();
    return 77;
  }
  {
    counting = !nccl_ids;
    auto s = mpinit::launch(argc, argv);
    if (nccl_ids) {
      counting = true;
      auto ids = mpinit::nccl_unique_ids(s.comm(), s.settings().nccl_ranks_per_root.value);
      counting = false;
      if (rank == 0) std::printf("IDS %zu\n", ids.size());
    }
    counting = false;
  }
  // Report (not counted): the maxima over ranks, per function, in a fixed order of names.
  const char* names[] = {"MPI_Allgather", "MPI_Allgatherv", "MPI_Allreduce", "MPI_Barrier", "MPI_Bcast",
                         "MPI_Comm_dup", "MPI_Comm_split", "MPI_Comm_split_type", "MPI_Exscan", "MPI_Gather"};
  long total[3] = {0, 0, 0};
  for (const char* n : names) {
    Tally t = tallies()[n];
    long mine[3] = {t.calls, t.bytes, t.largest}, most[3] = {0, 0, 0};
    PMPI_Reduce(mine, most, 3, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && most[0] > 0) std::printf("CALLS %s %ld %ld %ld\n", n, most[0], most[1], most[2]);
    total[0] += t.calls, total[1] += t.bytes, total[2] = std::max(total[2], t.largest);
  }
  long most[3] = {0, 0, 0};
  PMPI_Reduce(total, most, 3, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
  if (rank == 0) std::printf("TOTAL %d %ld %ld %ld\n", size, most[0], most[1], most[2]);
  MPI_Finalize();
  return 0;
}
