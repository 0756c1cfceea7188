#include "mpi/world.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <string>

#include "core/parse.hpp"
#include "mpi/inner.hpp"

namespace mpinit::detail {
namespace {

int to_mpi(ThreadLevel t) {
  switch (t) {
    case ThreadLevel::single: return MPI_THREAD_SINGLE;
    case ThreadLevel::funneled: return MPI_THREAD_FUNNELED;
    case ThreadLevel::serialized: return MPI_THREAD_SERIALIZED;
    case ThreadLevel::multiple: return MPI_THREAD_MULTIPLE;
  }
  return MPI_THREAD_SINGLE;
}
ThreadLevel from_mpi(int t) {
  if (t >= MPI_THREAD_MULTIPLE) return ThreadLevel::multiple;
  if (t >= MPI_THREAD_SERIALIZED) return ThreadLevel::serialized;
  if (t >= MPI_THREAD_FUNNELED) return ThreadLevel::funneled;
  return ThreadLevel::single;
}

}  // namespace

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(Errc::mpi, std::string(call) + " failed: " + std::string(text, len));
}

void init_or_adopt(InitMode mode, ThreadLevel requested, bool strict_thread_level, int* argc, char*** argv,
                   MPI_Comm user, const Logger& log, MpiState& out) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) throw Error(Errc::mpi, "MPI is already finalized; mpinit cannot use it");
  if (mode == InitMode::own && initialized)
    throw Error(Errc::mpi, "mode 'own' asks mpinit to initialize MPI, but MPI is already initialized "
                           "(use mode 'adopt' or 'own_if_needed')");
  if (mode == InitMode::adopt && !initialized)
    throw Error(Errc::mpi, "mode 'adopt' needs an initialized MPI, but MPI_Init has not been called "
                           "(use mode 'own' or 'own_if_needed')");
  if (user != MPI_COMM_NULL && !initialized)
    throw Error(Errc::mpi, "a communicator was given but MPI is not initialized");

  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    check_mpi(MPI_Init_thread(argc, argv, to_mpi(requested), &provided), "MPI_Init_thread");
    out.owns_init = true;
  } else {
    MPI_Query_thread(&provided);
  }
  out.provided = from_mpi(provided);
  if (out.provided < requested) {
    std::string msg = std::string("MPI provides thread level '") + to_string(out.provided) +
                      "' but '" + to_string(requested) + "' was requested";
    if (strict_thread_level) throw Error(Errc::mpi, msg);
    // The caller chose its level when it initialized MPI: only a level asked of mpinit is news.
    if (out.owns_init)
      log.warn(msg);
    else
      log.debug(msg + " (MPI was initialized by the caller)");
  }

  MPI_Comm base = user == MPI_COMM_NULL ? MPI_COMM_WORLD : user;
  check_mpi(MPI_Comm_dup(base, &out.comm), "MPI_Comm_dup");
  MPI_Comm_set_errhandler(out.comm, MPI_ERRORS_RETURN);
  mark_own(out.comm);  // already private: inner_comm() takes it as it is
  int cmp = MPI_UNEQUAL;
  MPI_Comm_compare(out.comm, MPI_COMM_WORLD, &cmp);
  out.is_world = cmp == MPI_IDENT || cmp == MPI_CONGRUENT;
}

void release(MpiState& st) noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (st.local != MPI_COMM_NULL) MPI_Comm_free(&st.local);
  if (st.comm != MPI_COMM_NULL) MPI_Comm_free(&st.comm);
  if (st.owns_init) {
    MPI_Finalize();
    st.owns_init = false;
  }
}

Identity mpi_identity(MpiState& st, const std::string& host, const Logger& log) {
  Identity id;
  id.host = host;
  id.from_mpi = true;
  int rank = 0, size = 0;
  check_mpi(MPI_Comm_rank(st.comm, &rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(st.comm, &size), "MPI_Comm_size");
  id.rank = rank, id.sources.rank = "MPI_Comm_rank";
  id.size = size, id.sources.size = "MPI_Comm_size";

#ifdef OMPI_COMM_TYPE_NODE
  // Open MPI: the whole node, whatever SHARED means on this build.
  const int split_type = OMPI_COMM_TYPE_NODE;
  const std::string split = "MPI_Comm_split_type(OMPI_COMM_TYPE_NODE)";
#else
  const int split_type = MPI_COMM_TYPE_SHARED;
  const std::string split = "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)";
#endif
  check_mpi(MPI_Comm_split_type(st.comm, split_type, rank, MPI_INFO_NULL, &st.local), split.c_str());
  MPI_Comm_set_errhandler(st.local, MPI_ERRORS_RETURN);
  mark_own(st.local);
  int lrank = 0, lsize = 0;
  MPI_Comm_rank(st.local, &lrank);
  MPI_Comm_size(st.local, &lsize);
  id.local_rank = lrank, id.sources.local_rank = split;
  id.local_size = lsize, id.sources.local_size = split;

  // Every rank of the node communicator should have the same host name.
  std::uint64_t h = fnv1a(host), mm[2] = {h, ~h};
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_UINT64_T, MPI_MIN, st.local), "MPI_Allreduce(local)");
  if (mm[0] != ~mm[1])
    log.warn("the node communicator from " + split + " holds ranks with different host names; "
             "node numbers follow MPI's split");

  // Node index: the number of node leaders before this node's leader; no O(P) data anywhere.
  int leader = lrank == 0 ? 1 : 0, before = 0, nodes = 0;
  check_mpi(MPI_Exscan(&leader, &before, 1, MPI_INT, MPI_SUM, st.comm), "MPI_Exscan");
  if (rank == 0) before = 0;  // Exscan leaves rank 0's result undefined
  check_mpi(MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, st.comm), "MPI_Allreduce");
  check_mpi(MPI_Bcast(&before, 1, MPI_INT, 0, st.local), "MPI_Bcast(local)");
  id.node_rank = before, id.sources.node_rank = "MPI_Exscan(node leaders)";
  id.node_count = nodes, id.sources.node_count = "MPI_Allreduce(node leaders)";
  return id;
}

// How a binary built against this MPI must be started (for the singleton report).
#if defined(OPEN_MPI)
constexpr const char* kStartHint = "This program is built with Open MPI: start it with Open MPI's mpirun, or with "
                                   "srun --mpi=pmix";
#elif defined(MPICH)
constexpr const char* kStartHint = "This program is built with MPICH: start it with MPICH's mpiexec (Hydra), or with "
                                   "srun --mpi=pmi2";
#else
constexpr const char* kStartHint = "A binary must be started by its own MPI's launcher, or by srun with that MPI's "
                                   "plugin (srun --mpi=list)";
#endif

std::vector<Disagreement> cross_check(const Identity& mpi, const LaunchEnv& env, bool is_world) {
  std::vector<Disagreement> out;
  if (!is_world) return out;
  const Sources& es = env.sources;
  const Sources& ms = mpi.sources;
  auto cmp = [&](int e, const std::string& e_src, int m, const std::string& m_src, const char* what, bool fatal,
                 const std::string& hint = "") {
    if (e != kUnknown && e != m)
      out.push_back({std::string(what) + ": " + e_src + "=" + std::to_string(e) + " but " + m_src + "=" +
                         std::to_string(m) + hint,
                     fatal});
  };
  if (env.size != kUnknown && env.size > 1 && mpi.size == 1) {
    out.push_back({"MPI sees a world of 1 process but " + es.size + "=" + std::to_string(env.size) +
                       (env.rank != kUnknown ? " (and " + es.rank + "=" + std::to_string(env.rank) + ")" : "") +
                       ": every process is a singleton (rank 0 of 1). The launcher (" + to_string(env.launcher) +
                       ") started the processes but MPI did not connect them: this program's MPI does not speak "
                       "that launcher's process-management interface. " + kStartHint,
                   true});
    return out;
  }
  cmp(env.size, es.size, mpi.size, ms.size, "world size", true);
  cmp(env.rank, es.rank, mpi.rank, ms.rank, "rank", true);
  cmp(env.local_size, es.local_size, mpi.local_size, ms.local_size, "ranks on this node", true,
      env.local_size > mpi.local_size ? " (MPI's node split covers only part of the node, e.g. a NUMA domain)" : "");
  cmp(env.local_rank, es.local_rank, mpi.local_rank, ms.local_rank, "local rank", true);
  cmp(env.node_count, es.node_count, mpi.node_count, ms.node_count, "node count", true);
  // Node numbering may legitimately differ (a launcher may order nodes by its host list).
  cmp(env.node_rank, es.node_rank, mpi.node_rank, ms.node_rank, "node index", false);
  return out;
}

}  // namespace mpinit::detail
