// What a Session holds, and the phases launch() runs (phases.cpp). Internal.
#pragma once

#include <chrono>
#include <exception>
#include <list>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agree/agree.hpp"
#include "mpi/world.hpp"
#include "mpinit/features.hpp"
#include "mpinit/session.hpp"
#include "session/watchdog.hpp"
#if MPINIT_HAVE_HWLOC
#include "hw/topology.hpp"
#include "node/node.hpp"
#include "node/share.hpp"
#endif

namespace mpinit {
inline namespace v2 {

struct Session::State {
  Settings settings;
  LaunchEnv env;
  Identity identity;
  Logger log;
  std::vector<PhaseTiming> timings;
  detail::MpiState mpi;
  ThreadLevel thread_level = ThreadLevel::single;
#if MPINIT_HAVE_HWLOC
  detail::NodeState node;
  std::optional<detail::NodeShare> share;  // the node's share before MPI, while it may be needed
  bool share_leader = false;
#endif
  std::optional<Placement> placement;
  int planned_local_rank = 0, planned_local_size = 1;  // what the plan was made from
  bool placed_before_mpi = false;
  std::string applied;
  Sourced<std::uint64_t> global_seed{kDefaultSeed, "default"};
  std::uint64_t rank_seed = 0;
  std::mt19937_64 rng;
  NcclComm* world_nccl = nullptr;
  std::list<NcclComm> nccl;              // stable addresses; destroyed before MPI is finalized
  detail::Watchdog* watchdog = nullptr;  // during launch() under MPI
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  // Exceptions in flight when launch() began: more when the Session ends means it ends in an
  // unwinding (~Session ends the job then, unless the exception is an agreed Error).
  int uncaught = std::uncaught_exceptions();

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State();
  NcclOptions nccl_options() const {
    NcclOptions o;
    o.timeout_s = settings.nccl_timeout_s.value;
    o.timeout_setting = nccl_timeout_setting();
    o.ranks_per_root = settings.nccl_ranks_per_root.value;
    return o;
  }
  /// Remove the node's share if this rank leads it (every local rank has read it by then).
  void drop_share() noexcept;
  /// When the launch budget (MPINIT_LAUNCH_TIMEOUT from the start of launch()) runs out, a little
  /// before the watchdog's, so that a wait of mpinit's own can say what it waited for first.
  std::chrono::steady_clock::time_point deadline() const;
  /// "MPINIT_LAUNCH_TIMEOUT=30 s" or the like: the budget as the user would find and change it.
  std::string timeout_setting() const;
  /// "MPINIT_NCCL_TIMEOUT=300 s (the default)" or the like.
  std::string nccl_timeout_setting() const;
  /// The options of NCCL's init inside launch() (MPINIT_NCCL=launch), at `now`: its wait ends
  /// before the launch budget's does (detail::nccl_wait_budget), so that a stuck init is aborted
  /// and agreed on before the watchdog fires.
  NcclOptions launch_nccl_options(std::chrono::steady_clock::time_point now) const;
};

}  // namespace v2
}  // namespace mpinit

namespace mpinit::detail {

/// Runs one phase body, records its time, and turns an exception into a PhaseStatus.
template <class F>
void run_phase(Session::State& st, const char* phase, PhaseStatus& status, F&& body) {
  auto t0 = std::chrono::steady_clock::now();
  if (st.watchdog) st.watchdog->enter(phase);
  try {
    body();
  } catch (const Error& e) {
    status = {true, e.code(), phase, e.what()};
  } catch (const std::exception& e) {
    status = {true, Errc::internal, phase, std::string("unexpected error: ") + e.what()};
  }
  st.timings.push_back({phase, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
}

/// Whether to place the process before MPI_Init, and why (for the log). Throws
/// Error(invalid_setting) when MPINIT_PLACE=before cannot be honoured.
bool place_before_mpi(const Session::State& st, const Options& options, std::string* why);

/// The topology and placement phases without MPI: before MPI_Init (the first failure goes into
/// `pre`, agreed once MPI is up) or in env-only mode (`pre` null: a failure is thrown at once).
void place_without_mpi(Session::State& st, const EnvMap& env, const std::string& host, PhaseStatus* pre);

/// A rank that failed before placement (bad settings or environment) still does its part in the
/// node's share, so that no local rank waits for it: the leader publishes its failure (and, with
/// no MPI to agree over, waits for the others to read it), another rank says it is done.
void share_early_failure(Session::State& st, const EnvMap& env, const std::string& host, const PhaseStatus& pre,
                         bool env_only);

/// The topology and placement phases over MPI, after MPI_Init: each ends in an agreement.
void place_with_mpi(Session::State& st, const EnvMap& env, const std::string& host);

/// After MPI_Init, for a process placed before it: MPI's local rank and size must be those the
/// plan was made from. Where they differ (MPINIT_CHECK=warn or off let the job go on), the plan
/// is made again with MPI's values and applied again. Agreed.
void verify_placement(Session::State& st, const EnvMap& env, const std::string& host);

/// The seed phase: rank 0's global seed is everyone's (a random one is drawn by rank 0).
void agree_seed(Session::State& st, MPI_Comm comm);

}  // namespace mpinit::detail
