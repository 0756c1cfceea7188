// Fault injection for the launcher tests: linked into fault_probe (the launcher probe), it defines
// the MPI functions mpinit's launch() calls (they win over libmpi's for libmpinit too, as in
// test/bench/bench_mpi_calls.cpp) and forwards them to PMPI_*. On one rank, at one call, it does
// what the environment says:
//   FAULT_RANK=3              the rank (MPI_COMM_WORLD; before MPI_Init, the launcher's variable)
//   FAULT_AT=MPI_Bcast:2      the call: a function and which of its calls (1 if left out);
//                             MPI_Init_thread stands for the start of MPI_Init itself, and
//                             start for the start of the program (before main, so before launch())
//   FAULT_ACTION=exit:3       _exit(3); kill: SIGKILL itself; sleep:S: sleep S seconds, then go on
// Before acting it writes "fault_inject: rank R, HOST: ACTION at CALL" on stderr. Nothing is done
// when FAULT_AT is not set.
#include <mpi.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace {

struct Fault {
  std::string fn;
  int nth = 1;
  std::string action;
  int rank = -1;
};

const Fault* fault() {
  static const Fault* f = [] () -> const Fault* {
    const char* at = std::getenv("FAULT_AT");
    const char* rank = std::getenv("FAULT_RANK");
    if (!at || !rank) return nullptr;
    auto* f = new Fault;
    f->fn = at;
    if (auto colon = f->fn.find(':'); colon != std::string::npos) {
      f->nth = std::atoi(f->fn.c_str() + colon + 1);
      f->fn.resize(colon);
    }
    f->rank = std::atoi(rank);
    const char* action = std::getenv("FAULT_ACTION");
    f->action = action ? action : "exit:3";
    return f;
  }();
  return f;
}

int my_rank(bool mpi_up) {
  if (mpi_up) {
    int r = -1;
    PMPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "PMIX_RANK"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return -1;
}

// Counts the calls of `fn` and acts at the chosen one.
void maybe_fail(const char* fn, bool mpi_up = true) {
  const Fault* f = fault();
  if (!f || f->fn != fn) return;
  static std::map<std::string, int> calls;
  if (++calls[fn] != f->nth || my_rank(mpi_up) != f->rank) return;
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  std::fprintf(stderr, "fault_inject: rank %d, %s: %s at %s:%d\n", f->rank, host, f->action.c_str(), fn, f->nth);
  std::fflush(stderr);
  if (f->action.rfind("exit:", 0) == 0) _exit(std::atoi(f->action.c_str() + 5));
  if (f->action == "kill") raise(SIGKILL);
  if (f->action.rfind("sleep:", 0) == 0) sleep(static_cast<unsigned>(std::atoi(f->action.c_str() + 6)));
}

// FAULT_AT=start: a rank that is slow to start, or dies before it calls anything.
__attribute__((constructor)) void at_start() { maybe_fail("start", false); }

}  // namespace

extern "C" {

int MPI_Init(int* argc, char*** argv) {
  maybe_fail("MPI_Init_thread", false);
  return PMPI_Init(argc, argv);
}
int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  maybe_fail("MPI_Init_thread", false);
  return PMPI_Init_thread(argc, argv, required, provided);
}
int MPI_Allreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  maybe_fail("MPI_Allreduce");
  return PMPI_Allreduce(s, r, n, t, op, c);
}
int MPI_Bcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c) {
  maybe_fail("MPI_Bcast");
  return PMPI_Bcast(b, n, t, root, c);
}
int MPI_Exscan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  maybe_fail("MPI_Exscan");
  return PMPI_Exscan(s, r, n, t, op, c);
}
int MPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm* out) {
  maybe_fail("MPI_Comm_split_type");
  return PMPI_Comm_split_type(c, type, key, info, out);
}
int MPI_Comm_dup(MPI_Comm c, MPI_Comm* out) {
  maybe_fail("MPI_Comm_dup");
  return PMPI_Comm_dup(c, out);
}

}  // extern "C"
