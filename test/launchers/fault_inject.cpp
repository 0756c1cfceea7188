// Fault injection for the launcher tests: linked into fault_probe (the launcher probe), it defines
// the MPI functions mpinit's launch() calls (they win over libmpi's for libmpinit too, as in
// test/bench/bench_mpi_calls.cpp) and forwards them to PMPI_*. On one rank, at one call, it does
// what the environment says:
//   FAULT_RANK=3              the rank (MPI_COMM_WORLD; before MPI_Init, the launcher's variable)
//   FAULT_AT=MPI_Bcast:2      the call: a function and which of its calls (1 if left out);
//                             MPI_Init_thread stands for the start of MPI_Init itself, and
//                             start for the start of the program (before main, so before launch())
//   FAULT_ACTION=exit:3       _exit(3); kill: SIGKILL itself; sleep:S: sleep S seconds, then go on;
//                             stop: SIGSTOP itself (every thread stops; only SIGKILL or SIGCONT
//                             from outside moves it again)
// Before acting it writes "fault_inject: rank R, HOST: ACTION at CALL" on stderr. Nothing is done
// when FAULT_AT is not set.
//
// The same functions, and every other MPI function libmpinit and the probe call, also check the
// calling thread when THREAD_CHECK=1: MPI allows calls from a thread other than the one that called
// MPI_Init_thread only where it provides MPI_THREAD_MULTIPLE (MPI_Initialized, MPI_Finalized and
// MPI_Query_thread, callable from any thread, are not wrapped). With THREAD_CHECK=1 each rank
// writes, with write(2) on stderr:
//   thread_check: rank R: MPI_Init_thread on thread T, provided LEVEL        (after MPI_Init)
//   thread_check: rank R: FUNCTION from thread U, not T (provided LEVEL)     (each call that breaks the rule)
//   thread_check: rank R: N MPI calls, V from another thread (provided LEVEL) (in MPI_Finalize)
#include <mpi.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include <algorithm>
#include <cstdarg>
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
  if (f->action == "stop") raise(SIGSTOP);
  if (f->action.rfind("sleep:", 0) == 0) sleep(static_cast<unsigned>(std::atoi(f->action.c_str() + 6)));
}

// The thread check (THREAD_CHECK=1).
struct ThreadCheck {
  bool on = false;
  std::atomic<long> init_tid{0};  // the thread of MPI_Init_thread; 0 before it
  std::atomic<int> provided{-1};
  std::atomic<long> calls{0}, foreign{0};
  int rank = -1;
};

ThreadCheck& checker() {
  static ThreadCheck* c = [] {
    auto* t = new ThreadCheck;  // never freed: read until the process ends
    const char* v = std::getenv("THREAD_CHECK");
    t->on = v && std::strcmp(v, "1") == 0;
    return t;
  }();
  return *c;
}

long tid() { return static_cast<long>(::syscall(SYS_gettid)); }

const char* level_name(int level) {
  if (level == MPI_THREAD_SINGLE) return "MPI_THREAD_SINGLE";
  if (level == MPI_THREAD_FUNNELED) return "MPI_THREAD_FUNNELED";
  if (level == MPI_THREAD_SERIALIZED) return "MPI_THREAD_SERIALIZED";
  if (level == MPI_THREAD_MULTIPLE) return "MPI_THREAD_MULTIPLE";
  return "?";
}

// Only write(2): this may run on a thread that must not take stdio's locks.
void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void say(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
  for (size_t done = 0; done < len;) {
    ssize_t w = ::write(2, buf + done, len - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
}

// Each wrapped MPI call: after MPI_Init_thread, from its thread unless MPI_THREAD_MULTIPLE.
void check_thread(const char* fn) {
  ThreadCheck& c = checker();
  if (!c.on) return;
  const long init = c.init_tid.load();
  if (init == 0) return;  // before MPI_Init_thread: no thread is MPI's yet
  c.calls++;
  const long me = tid();
  if (me == init || c.provided.load() == MPI_THREAD_MULTIPLE) return;
  c.foreign++;
  say("thread_check: rank %d: %s from thread %ld, not %ld (provided %s)\n", c.rank, fn, me, init,
      level_name(c.provided.load()));
}

void after_init(int provided) {
  ThreadCheck& c = checker();
  if (!c.on) return;
  PMPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
  c.provided = provided;
  c.init_tid = tid();
  say("thread_check: rank %d: MPI_Init_thread on thread %ld, provided %s\n", c.rank, tid(), level_name(provided));
}

// FAULT_AT=start: a rank that is slow to start, or dies before it calls anything.
__attribute__((constructor)) void at_start() { maybe_fail("start", false); }

}  // namespace

extern "C" {

int MPI_Init(int* argc, char*** argv) {
  maybe_fail("MPI_Init_thread", false);
  int rc = PMPI_Init(argc, argv);
  int provided = -1;
  if (rc == MPI_SUCCESS) PMPI_Query_thread(&provided);
  if (rc == MPI_SUCCESS) after_init(provided);
  return rc;
}
int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  maybe_fail("MPI_Init_thread", false);
  int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) after_init(*provided);
  return rc;
}
int MPI_Finalize() {
  check_thread("MPI_Finalize");
  ThreadCheck& c = checker();
  if (c.on)
    say("thread_check: rank %d: %ld MPI calls, %ld from another thread (provided %s)\n", c.rank, c.calls.load(),
        c.foreign.load(), level_name(c.provided.load()));
  return PMPI_Finalize();
}
int MPI_Abort(MPI_Comm c, int code) {
  check_thread("MPI_Abort");
  return PMPI_Abort(c, code);
}
int MPI_Allreduce(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  check_thread("MPI_Allreduce");
  maybe_fail("MPI_Allreduce");
  return PMPI_Allreduce(s, r, n, t, op, c);
}
int MPI_Bcast(void* b, int n, MPI_Datatype t, int root, MPI_Comm c) {
  check_thread("MPI_Bcast");
  maybe_fail("MPI_Bcast");
  return PMPI_Bcast(b, n, t, root, c);
}
int MPI_Exscan(const void* s, void* r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  check_thread("MPI_Exscan");
  maybe_fail("MPI_Exscan");
  return PMPI_Exscan(s, r, n, t, op, c);
}
int MPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm* out) {
  check_thread("MPI_Comm_split_type");
  maybe_fail("MPI_Comm_split_type");
  return PMPI_Comm_split_type(c, type, key, info, out);
}
int MPI_Comm_dup(MPI_Comm c, MPI_Comm* out) {
  check_thread("MPI_Comm_dup");
  maybe_fail("MPI_Comm_dup");
  return PMPI_Comm_dup(c, out);
}
int MPI_Comm_rank(MPI_Comm c, int* r) {
  check_thread("MPI_Comm_rank");
  return PMPI_Comm_rank(c, r);
}
int MPI_Comm_size(MPI_Comm c, int* n) {
  check_thread("MPI_Comm_size");
  return PMPI_Comm_size(c, n);
}
int MPI_Comm_compare(MPI_Comm a, MPI_Comm b, int* result) {
  check_thread("MPI_Comm_compare");
  return PMPI_Comm_compare(a, b, result);
}
int MPI_Comm_set_errhandler(MPI_Comm c, MPI_Errhandler e) {
  check_thread("MPI_Comm_set_errhandler");
  return PMPI_Comm_set_errhandler(c, e);
}
int MPI_Comm_free(MPI_Comm* c) {
  check_thread("MPI_Comm_free");
  return PMPI_Comm_free(c);
}
int MPI_Op_create(MPI_User_function* f, int commute, MPI_Op* op) {
  check_thread("MPI_Op_create");
  return PMPI_Op_create(f, commute, op);
}
int MPI_Op_free(MPI_Op* op) {
  check_thread("MPI_Op_free");
  return PMPI_Op_free(op);
}
int MPI_Barrier(MPI_Comm c) {
  check_thread("MPI_Barrier");
  return PMPI_Barrier(c);
}
int MPI_Sendrecv(const void* sb, int sn, MPI_Datatype st, int dst, int stag, void* rb, int rn, MPI_Datatype rt,
                 int src, int rtag, MPI_Comm c, MPI_Status* status) {
  check_thread("MPI_Sendrecv");
  return PMPI_Sendrecv(sb, sn, st, dst, stag, rb, rn, rt, src, rtag, c, status);
}
int MPI_Gather(const void* s, int sn, MPI_Datatype st, void* r, int rn, MPI_Datatype rt, int root, MPI_Comm c) {
  check_thread("MPI_Gather");
  return PMPI_Gather(s, sn, st, r, rn, rt, root, c);
}
int MPI_Gatherv(const void* s, int sn, MPI_Datatype st, void* r, const int rn[], const int displs[], MPI_Datatype rt,
                int root, MPI_Comm c) {
  check_thread("MPI_Gatherv");
  return PMPI_Gatherv(s, sn, st, r, rn, displs, rt, root, c);
}
int MPI_Allgather(const void* s, int sn, MPI_Datatype st, void* r, int rn, MPI_Datatype rt, MPI_Comm c) {
  check_thread("MPI_Allgather");
  return PMPI_Allgather(s, sn, st, r, rn, rt, c);
}
int MPI_Allgatherv(const void* s, int sn, MPI_Datatype st, void* r, const int rn[], const int displs[],
                   MPI_Datatype rt, MPI_Comm c) {
  check_thread("MPI_Allgatherv");
  return PMPI_Allgatherv(s, sn, st, r, rn, displs, rt, c);
}
int MPI_Error_string(int code, char* s, int* len) {
  check_thread("MPI_Error_string");
  return PMPI_Error_string(code, s, len);
}

}  // extern "C"
