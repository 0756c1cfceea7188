// mpitrace: a PMPI layer for the tests, preloaded into a real MPI program (test/pmpi/with-mpitrace.sh
// sets LD_PRELOAD), that checks what the program asks of MPI. It defines the MPI functions below
// and forwards each to its PMPI_ twin, so it sees every call libmpinit (or the program) makes.
//
// User ops. MPI applies a user op element by element on the datatype it is given, and may split
// a buffer between elements (a segmented or pipelined reduction), so a record that a user op
// merges as a whole must be one element of a derived datatype. The layer counts every reduction
// (MPI_Allreduce, MPI_Reduce, MPI_Reduce_scatter, MPI_Reduce_scatter_block, MPI_Scan, MPI_Exscan,
// MPI_Iallreduce, MPI_Ireduce) whose op is a user op (one made by MPI_Op_create), and records as a
// violation each one over a predefined datatype with more than one element. It also follows the
// user ops and the committed datatypes: how many were made, and whether each was freed before
// MPI_Finalize returned and not after it.
//
// Communicators. Every collective, point-to-point, communicator and attribute call is recorded
// with the communicator it names, so that a test (in the same process) can ask which calls ran
// on a communicator: mpitrace_calls_on(), mpitrace_count(), mpitrace_last_dup_of() below, found
// with dlsym(RTLD_DEFAULT, ...) where the layer is preloaded. The communicators made by
// MPI_Comm_dup, MPI_Comm_split and MPI_Comm_split_type are followed until MPI_Comm_free.
//
// At MPI_Finalize each rank prints one "mpitrace rank R: ..." line to stderr. With MPITRACE_CHECK=1
// a rank whose run broke a rule prints why and exits 1 once MPI_Finalize has returned. The rules:
//   - no violation (above);
//   - every user op and committed datatype is freed by the end of MPI_Finalize, none after it;
//   - MPITRACE_EXPECT_USER_OP_REDUCTIONS=1: at least one reduction with a user op was seen (the
//     check saw what it checks);
//   - MPITRACE_MAX_OPS_CREATED=N: at most N MPI_Op_create calls in the whole run;
//   - MPITRACE_NO_LEAKED_COMMS=1: every communicator made by MPI_Comm_dup/split/split_type was
//     freed (MPI_Comm_free) by the end of MPI_Finalize.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace {

std::recursive_mutex mu;  // MPI_THREAD_MULTIPLE programs; recursive: PMPI may call back (attribute callbacks)
using Lock = std::lock_guard<std::recursive_mutex>;

enum Phase { running, finalizing, finalized };
Phase phase = running;

long user_op_reductions = 0, derived_type_reductions = 0;
std::vector<std::string> violations;
std::set<MPI_Op> user_ops;           // made by MPI_Op_create, not yet freed
std::set<MPI_Datatype> live_types;   // committed, not yet freed
long ops_created = 0, ops_freed_in_finalize = 0, types_committed = 0, types_freed_in_finalize = 0;
std::vector<std::string> late_frees;  // freed after MPI_Finalize returned

struct Event {
  const char* fn;
  MPI_Comm comm;
  MPI_Comm made;  // MPI_Comm_dup: the duplicate
};
std::vector<Event> events;       // since the last mpitrace_reset()
std::set<MPI_Comm> live_comms;   // made by dup/split, not yet freed
long comms_made = 0;

void record(const char* fn, MPI_Comm c, MPI_Comm made = MPI_COMM_NULL) {
  Lock lock(mu);
  events.push_back({fn, c, made});
}

void made_comm(MPI_Comm* out) {
  if (*out == MPI_COMM_NULL) return;
  Lock lock(mu);
  live_comms.insert(*out);
  ++comms_made;
}

bool is_user_op(MPI_Op op) {
  Lock lock(mu);
  return user_ops.count(op) > 0;
}

bool is_predefined(MPI_Datatype t) {
  int ni = 0, na = 0, nd = 0, combiner = 0;
  PMPI_Type_get_envelope(t, &ni, &na, &nd, &combiner);
  return combiner == MPI_COMBINER_NAMED;
}

std::string type_name(MPI_Datatype t) {
  char name[MPI_MAX_OBJECT_NAME] = {};
  int len = 0;
  PMPI_Type_get_name(t, name, &len);
  return len > 0 ? std::string(name, len) : std::string("(unnamed derived type)");
}

int comm_size(MPI_Comm c) {
  int n = 0;
  PMPI_Comm_size(c, &n);
  return n;
}

// One reduction with `op` over `count` elements of `t` (count: the largest piece any rank reduces).
void reduction(const char* fn, long count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  record(fn, c);
  if (!is_user_op(op)) return;
  Lock lock(mu);
  ++user_op_reductions;
  if (!is_predefined(t)) {
    ++derived_type_reductions;
  } else if (count > 1) {
    violations.push_back(std::string(fn) + "(count=" + std::to_string(count) + ", " + type_name(t) +
                         ", a user op) on a communicator of " + std::to_string(comm_size(c)) + " ranks");
  }
}

bool env_on(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

}  // namespace

extern "C" {

int MPI_Op_create(MPI_User_function* fn, int commute, MPI_Op* op) {
  int rc = PMPI_Op_create(fn, commute, op);
  if (rc == MPI_SUCCESS) {
    Lock lock(mu);
    user_ops.insert(*op);
    ++ops_created;
  }
  return rc;
}

int MPI_Op_free(MPI_Op* op) {
  {
    Lock lock(mu);
    if (user_ops.erase(*op)) {
      if (phase == finalizing) ++ops_freed_in_finalize;
      if (phase == finalized) late_frees.push_back("MPI_Op_free");
    }
  }
  return PMPI_Op_free(op);
}

int MPI_Type_commit(MPI_Datatype* t) {
  int rc = PMPI_Type_commit(t);
  if (rc == MPI_SUCCESS) {
    Lock lock(mu);
    if (live_types.insert(*t).second) ++types_committed;
  }
  return rc;
}

int MPI_Type_free(MPI_Datatype* t) {
  {
    Lock lock(mu);
    if (live_types.erase(*t)) {
      if (phase == finalizing) ++types_freed_in_finalize;
      if (phase == finalized) late_frees.push_back("MPI_Type_free");
    }
  }
  return PMPI_Type_free(t);
}

int MPI_Allreduce(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  reduction("MPI_Allreduce", count, t, op, c);
  return PMPI_Allreduce(s, r, count, t, op, c);
}

int MPI_Iallreduce(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c, MPI_Request* req) {
  reduction("MPI_Iallreduce", count, t, op, c);
  return PMPI_Iallreduce(s, r, count, t, op, c, req);
}

int MPI_Reduce(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c) {
  reduction("MPI_Reduce", count, t, op, c);
  return PMPI_Reduce(s, r, count, t, op, root, c);
}

int MPI_Ireduce(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c,
                MPI_Request* req) {
  reduction("MPI_Ireduce", count, t, op, c);
  return PMPI_Ireduce(s, r, count, t, op, root, c, req);
}

int MPI_Reduce_scatter(const void* s, void* r, const int* counts, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  long total = 0;
  for (int i = 0, n = comm_size(c); i < n; ++i) total += counts[i];
  reduction("MPI_Reduce_scatter", total, t, op, c);
  return PMPI_Reduce_scatter(s, r, counts, t, op, c);
}

int MPI_Reduce_scatter_block(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  reduction("MPI_Reduce_scatter_block", static_cast<long>(count) * comm_size(c), t, op, c);
  return PMPI_Reduce_scatter_block(s, r, count, t, op, c);
}

int MPI_Scan(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  reduction("MPI_Scan", count, t, op, c);
  return PMPI_Scan(s, r, count, t, op, c);
}

int MPI_Exscan(const void* s, void* r, int count, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  reduction("MPI_Exscan", count, t, op, c);
  return PMPI_Exscan(s, r, count, t, op, c);
}


// ---- calls on communicators, recorded ----

int MPI_Barrier(MPI_Comm c) {
  record("MPI_Barrier", c);
  return PMPI_Barrier(c);
}
int MPI_Ibarrier(MPI_Comm c, MPI_Request* req) {
  record("MPI_Ibarrier", c);
  return PMPI_Ibarrier(c, req);
}
int MPI_Bcast(void* buf, int count, MPI_Datatype t, int root, MPI_Comm c) {
  record("MPI_Bcast", c);
  return PMPI_Bcast(buf, count, t, root, c);
}
int MPI_Ibcast(void* buf, int count, MPI_Datatype t, int root, MPI_Comm c, MPI_Request* req) {
  record("MPI_Ibcast", c);
  return PMPI_Ibcast(buf, count, t, root, c, req);
}
int MPI_Gather(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, int root, MPI_Comm c) {
  record("MPI_Gather", c);
  return PMPI_Gather(s, sc, st, r, rc, rt, root, c);
}
int MPI_Gatherv(const void* s, int sc, MPI_Datatype st, void* r, const int* rc, const int* displs, MPI_Datatype rt,
                int root, MPI_Comm c) {
  record("MPI_Gatherv", c);
  return PMPI_Gatherv(s, sc, st, r, rc, displs, rt, root, c);
}
int MPI_Scatter(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, int root, MPI_Comm c) {
  record("MPI_Scatter", c);
  return PMPI_Scatter(s, sc, st, r, rc, rt, root, c);
}
int MPI_Allgather(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, MPI_Comm c) {
  record("MPI_Allgather", c);
  return PMPI_Allgather(s, sc, st, r, rc, rt, c);
}
int MPI_Allgatherv(const void* s, int sc, MPI_Datatype st, void* r, const int* rc, const int* displs, MPI_Datatype rt,
                   MPI_Comm c) {
  record("MPI_Allgatherv", c);
  return PMPI_Allgatherv(s, sc, st, r, rc, displs, rt, c);
}
int MPI_Alltoall(const void* s, int sc, MPI_Datatype st, void* r, int rc, MPI_Datatype rt, MPI_Comm c) {
  record("MPI_Alltoall", c);
  return PMPI_Alltoall(s, sc, st, r, rc, rt, c);
}
int MPI_Send(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c) {
  record("MPI_Send", c);
  return PMPI_Send(buf, count, t, dest, tag, c);
}
int MPI_Isend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c, MPI_Request* req) {
  record("MPI_Isend", c);
  return PMPI_Isend(buf, count, t, dest, tag, c, req);
}
int MPI_Recv(void* buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Status* st) {
  record("MPI_Recv", c);
  return PMPI_Recv(buf, count, t, src, tag, c, st);
}
int MPI_Irecv(void* buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Request* req) {
  record("MPI_Irecv", c);
  return PMPI_Irecv(buf, count, t, src, tag, c, req);
}
int MPI_Sendrecv(const void* sb, int sc, MPI_Datatype st, int dest, int stag, void* rb, int rc, MPI_Datatype rt,
                 int src, int rtag, MPI_Comm c, MPI_Status* status) {
  record("MPI_Sendrecv", c);
  return PMPI_Sendrecv(sb, sc, st, dest, stag, rb, rc, rt, src, rtag, c, status);
}
int MPI_Probe(int src, int tag, MPI_Comm c, MPI_Status* st) {
  record("MPI_Probe", c);
  return PMPI_Probe(src, tag, c, st);
}
int MPI_Comm_rank(MPI_Comm c, int* r) {
  record("MPI_Comm_rank", c);
  return PMPI_Comm_rank(c, r);
}
int MPI_Comm_size(MPI_Comm c, int* n) {
  record("MPI_Comm_size", c);
  return PMPI_Comm_size(c, n);
}
int MPI_Comm_dup(MPI_Comm c, MPI_Comm* out) {
  int rc = PMPI_Comm_dup(c, out);
  record("MPI_Comm_dup", c, rc == MPI_SUCCESS ? *out : MPI_COMM_NULL);
  if (rc == MPI_SUCCESS) made_comm(out);
  return rc;
}
int MPI_Comm_dup_with_info(MPI_Comm c, MPI_Info info, MPI_Comm* out) {
  int rc = PMPI_Comm_dup_with_info(c, info, out);
  record("MPI_Comm_dup_with_info", c, rc == MPI_SUCCESS ? *out : MPI_COMM_NULL);
  if (rc == MPI_SUCCESS) made_comm(out);
  return rc;
}
int MPI_Comm_split(MPI_Comm c, int color, int key, MPI_Comm* out) {
  record("MPI_Comm_split", c);
  int rc = PMPI_Comm_split(c, color, key, out);
  if (rc == MPI_SUCCESS) made_comm(out);
  return rc;
}
int MPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info info, MPI_Comm* out) {
  record("MPI_Comm_split_type", c);
  int rc = PMPI_Comm_split_type(c, type, key, info, out);
  if (rc == MPI_SUCCESS) made_comm(out);
  return rc;
}
int MPI_Comm_create(MPI_Comm c, MPI_Group g, MPI_Comm* out) {
  record("MPI_Comm_create", c);
  int rc = PMPI_Comm_create(c, g, out);
  if (rc == MPI_SUCCESS) made_comm(out);
  return rc;
}
int MPI_Comm_free(MPI_Comm* c) {
  const MPI_Comm handle = *c;
  record("MPI_Comm_free", handle);
  {
    Lock lock(mu);
    live_comms.erase(handle);
  }
  return PMPI_Comm_free(c);
}
int MPI_Comm_set_errhandler(MPI_Comm c, MPI_Errhandler e) {
  record("MPI_Comm_set_errhandler", c);
  return PMPI_Comm_set_errhandler(c, e);
}
int MPI_Comm_get_attr(MPI_Comm c, int key, void* value, int* flag) {
  record("MPI_Comm_get_attr", c);
  return PMPI_Comm_get_attr(c, key, value, flag);
}
int MPI_Comm_set_attr(MPI_Comm c, int key, void* value) {
  record("MPI_Comm_set_attr", c);
  return PMPI_Comm_set_attr(c, key, value);
}
int MPI_Comm_delete_attr(MPI_Comm c, int key) {
  record("MPI_Comm_delete_attr", c);
  return PMPI_Comm_delete_attr(c, key);
}

// ---- the queries, for a test in the same process ----

/// Forget what was recorded so far.
void mpitrace_reset(void) {
  Lock lock(mu);
  events.clear();
}

/// The calls recorded on `c` since the last reset, space-separated, into buf (len bytes, NUL
/// included); returns how many there were.
long mpitrace_calls_on(MPI_Comm c, char* buf, int len) {
  Lock lock(mu);
  std::string all;
  long n = 0;
  for (const auto& e : events)
    if (e.comm == c) all += (n++ ? " " : "") + std::string(e.fn);
  if (len > 0) {
    const size_t k = std::min(all.size(), static_cast<size_t>(len - 1));
    std::copy(all.begin(), all.begin() + k, buf);
    buf[k] = '\0';
  }
  return n;
}

/// How many calls to `fn` ("MPI_Bcast") were recorded on `c` since the last reset.
long mpitrace_count(const char* fn, MPI_Comm c) {
  Lock lock(mu);
  return std::count_if(events.begin(), events.end(),
                       [&](const Event& e) { return e.comm == c && std::string(e.fn) == fn; });
}

/// The newest duplicate MPI_Comm_dup made of `c` since the last reset, or MPI_COMM_NULL.
MPI_Comm mpitrace_last_dup_of(MPI_Comm c) {
  Lock lock(mu);
  for (auto it = events.rbegin(); it != events.rend(); ++it)
    if (it->comm == c && it->made != MPI_COMM_NULL) return it->made;
  return MPI_COMM_NULL;
}

int MPI_Finalize(void) {
  int rank = -1;
  PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
  {
    Lock lock(mu);
    phase = finalizing;
  }
  int rc = PMPI_Finalize();
  Lock lock(mu);
  phase = finalized;

  std::vector<std::string> broken = violations;
  if (!user_ops.empty())
    broken.push_back(std::to_string(user_ops.size()) + " user op(s) still allocated when MPI_Finalize returned");
  if (!live_types.empty())
    broken.push_back(std::to_string(live_types.size()) + " committed datatype(s) still allocated when MPI_Finalize returned");
  if (env_on("MPITRACE_EXPECT_USER_OP_REDUCTIONS") && user_op_reductions == 0)
    broken.push_back("no reduction with a user op was seen (the check checked nothing)");
  if (env_on("MPITRACE_NO_LEAKED_COMMS") && !live_comms.empty())
    broken.push_back(std::to_string(live_comms.size()) + " of the " + std::to_string(comms_made) +
                     " communicators made by MPI_Comm_dup/split were not freed by the end of MPI_Finalize");
  if (const char* max = std::getenv("MPITRACE_MAX_OPS_CREATED"); max && ops_created > std::atol(max))
    broken.push_back(std::to_string(ops_created) + " MPI_Op_create calls, more than MPITRACE_MAX_OPS_CREATED=" + max);

  std::fprintf(stderr,
               "mpitrace rank %d: %ld reductions with a user op (%ld over a derived datatype), %zu over a "
               "predefined datatype with count > 1; %ld MPI_Op_create (%ld freed inside MPI_Finalize), %ld "
               "MPI_Type_commit (%ld freed inside MPI_Finalize); %ld communicators made, %zu not freed\n",
               rank, user_op_reductions, derived_type_reductions, violations.size(), ops_created,
               ops_freed_in_finalize, types_committed, types_freed_in_finalize, comms_made, live_comms.size());
  if (env_on("MPITRACE_CHECK") && !broken.empty()) {
    for (const auto& b : broken) std::fprintf(stderr, "mpitrace rank %d: FAILED: %s\n", rank, b.c_str());
    std::fflush(stderr);
    _exit(1);
  }
  return rc;
}

}  // extern "C"

// A free after MPI_Finalize returned is reported at exit (MPI_Finalize's report is written by then).
namespace {
struct LateFrees {
  ~LateFrees() {
    if (late_frees.empty()) return;
    for (const auto& f : late_frees) std::fprintf(stderr, "mpitrace: FAILED: %s after MPI_Finalize\n", f.c_str());
    if (env_on("MPITRACE_CHECK")) _exit(1);
  }
} late_frees_reporter;
}  // namespace
