// The Session: one call at start-up turns the process into a ready distributed worker.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <random>
#include <optional>
#include <string>
#include <vector>

#include "mpinit/env.hpp"
#include "mpinit/error.hpp"
#include "mpinit/export.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/log.hpp"
#include "mpinit/nccl.hpp"
#include "mpinit/settings.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

/// What launch() is asked to do. Settings left unset come from MPINIT_* variables or defaults.
struct Options : Overrides {
  /// The communicator to work on when MPI is adopted (MPI_COMM_NULL: MPI_COMM_WORLD). The
  /// session works on its own duplicate, which it frees; the caller's is never touched.
  MPI_Comm comm = MPI_COMM_NULL;
  /// Read this environment instead of the process's (tests, tools).
  std::optional<EnvMap> env;
  /// Settings given as flags by a tool or an API (a command line it parsed itself, the C
  /// config): they win over the `--mpinit-*` flags launch() takes out of its argv, and lose to
  /// the explicit options above. Among flags of one name, the last wins.
  Flags flags;
};

/// Wall time of one launch phase.
struct PhaseTiming {
  std::string phase;
  double seconds = 0;
};

/// A launched process. Move-only; the destructor frees what the session made (its
/// communicators) and finalizes MPI only if the session initialized it. It never throws.
/// A moved-from Session is empty: its accessors answer as a session that has nothing
/// (MPI_COMM_NULL, an Identity of kUnknown, no timings, no placement, the default seed; rng() is
/// a default engine shared by all empty sessions), and agree(), nccl(), nccl_for() and
/// nccl_split() throw Error(invalid_setting) saying the Session was moved from.
class MPINIT_API Session {
 public:
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  const Identity& identity() const noexcept;
  const Settings& settings() const noexcept;
  /// What the launcher environment said (before MPI was asked).
  const LaunchEnv& launch_env() const noexcept;
  const std::vector<PhaseTiming>& timings() const noexcept;
  const Logger& logger() const noexcept;

  /// The session's duplicate of the world (or of the caller's communicator); MPI_COMM_NULL
  /// in env-only mode.
  MPI_Comm comm() const noexcept;
  /// The ranks of comm() on this node; MPI_COMM_NULL in env-only mode.
  MPI_Comm local_comm() const noexcept;
  /// True when the session called MPI_Init_thread and will call MPI_Finalize.
  bool owns_mpi() const noexcept;
  /// The thread level MPI provides (as reported by MPI), or the requested one in env-only mode.
  ThreadLevel thread_level() const noexcept;

  /// The node's topology the plan was made on; nullptr when placement is off or not built.
  const NodeTopology* topology() const noexcept;
  /// The plan of every local rank of this node; nullptr when there is none.
  const Placement* placement() const noexcept;
  /// This rank's plan; nullptr when there is none.
  const RankPlan* plan() const noexcept;
  /// What applying the plan did ("bound to CPUs 0-3; cudaSetDevice(1) = 0000:1b:00.0", or why not).
  const std::string& applied() const noexcept;
  /// True when this rank discovered (or read) the topology itself: one rank per node under MPI.
  bool discovered_topology() const noexcept;

  /// The global seed every rank agreed on (rank 0's setting; "random" is drawn by rank 0), with
  /// its source.
  const Sourced<std::uint64_t>& global_seed() const noexcept;
  /// This rank's seed: derive_seed(global, rank). The C library's srand() was seeded with it.
  std::uint64_t rank_seed() const noexcept;
  /// This rank's seed for a separate purpose ("dropout", "data"): derive_seed(global, rank, stream).
  std::uint64_t seed_for(const std::string& stream) const;
  /// A random engine of this rank, seeded with rank_seed().
  std::mt19937_64& rng() noexcept;

  /// The NCCL twin of comm(), made on the first call (collective: every rank must call) unless
  /// MPINIT_NCCL=launch made it already. Throws Error(not_built) without NCCL, and the same
  /// Error on every rank when creation fails or times out. Lives until the session ends.
  NcclComm& nccl();
  /// The NCCL twin of any MPI communicator of the caller (collective over it), owned by the
  /// session and destroyed before MPI is finalized. mpinit's MPI traffic runs on a private
  /// duplicate of `comm`, cached on it (see nccl_unique_ids): `comm`'s own traffic and error
  /// handler are the caller's.
  NcclComm& nccl_for(MPI_Comm comm);
  /// Fail all ranks together in a phase of your own: collective over comm(); `cause` is empty
  /// where this rank succeeded. When any rank failed, every rank throws the same Error naming
  /// `phase`, the failing ranks, their host and the first one's cause. In env-only mode only
  /// this rank's cause counts.
  void agree(const std::string& phase, const std::string& cause, Errc code = Errc::application) const;
  /// ncclCommSplit of an NCCL communicator of this session whose MPI twin is `parent_mpi`.
  NcclComm& nccl_split(NcclComm& parent, MPI_Comm parent_mpi, int color, int key);

  struct State;

 private:
  explicit Session(std::unique_ptr<State> s);
  friend MPINIT_API Session launch(int* argc, char*** argv, const Options& options);
  std::unique_ptr<State> s_;
};

/// Launch: take the `--mpinit-*` flags out of argv, resolve settings (option > flag > MPINIT_*
/// variable > default), read the launcher environment, initialize or adopt MPI, establish
/// the identity, load the node's topology (once per node), plan and apply the placement, agree
/// on the seeds, and (MPINIT_NCCL=launch) make the NCCL communicator. Each phase ends with all ranks agreeing on its status: when any
/// rank failed, every rank throws the same Error naming the phase, the failing rank(s), their
/// host and the cause. argc/argv are passed to MPI_Init_thread (may be null).
MPINIT_API Session launch(int* argc, char*** argv, const Options& options = {});
inline Session launch(const Options& options = {}) { return launch(nullptr, nullptr, options); }
inline Session launch(int& argc, char**& argv, const Options& options = {}) {
  return launch(&argc, &argv, options);
}

/// The library's version string ("0.2.0"); MPINIT_VERSION (features.hpp) is the one compiled against.
MPINIT_API const char* version() noexcept;

}  // namespace v2
}  // namespace mpinit
