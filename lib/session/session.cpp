// Session orchestration: phases in order, each ending in a collective status agreement.
#include "mpinit/session.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "mpinit/features.hpp"
#include "world/world.hpp"
#if MPINIT_HAVE_HWLOC
#include "topo/node.hpp"
#endif

namespace mpinit {
inline namespace v1 {

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
#endif
  std::optional<Placement> placement;
  std::string applied;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { detail::release(mpi); }
};

namespace {

using Clock = std::chrono::steady_clock;

// Runs one phase body, records its time, and turns an exception into a PhaseStatus.
template <class F>
void run_phase(Session::State& st, const char* phase, detail::PhaseStatus& status, F&& body) {
  auto t0 = Clock::now();
  try {
    body();
  } catch (const Error& e) {
    status = {true, e.code(), phase, e.what()};
  } catch (const std::exception& e) {
    status = {true, Errc::internal, phase, std::string("unexpected error: ") + e.what()};
  }
  st.timings.push_back({phase, std::chrono::duration<double>(Clock::now() - t0).count()});
}

// For messages only, where MPI cannot say: the rank a launcher variable gives, if it reads as one.
std::string rank_from_env(const EnvMap& env) {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "PALS_RANKID", "MV2_COMM_WORLD_RANK",
                          "JSM_NAMESPACE_RANK", "PMIX_RANK", "RANK"}) {
    auto it = env.find(var);
    if (it != env.end() && !it->second.empty() &&
        it->second.find_first_not_of("0123456789") == std::string::npos && it->second.size() < 10)
      return it->second;
  }
  return "?";
}

std::string summary(const Identity& id) {
  return "rank " + std::to_string(id.rank.value) + "/" + std::to_string(id.size.value) + ", local " +
         std::to_string(id.local_rank.value) + "/" + std::to_string(id.local_size.value) + ", node " +
         std::to_string(id.node_rank.value) + "/" + std::to_string(id.node_count.value) + ", host " + id.host +
         ", launcher " + launcher_name(id.launcher) + (id.from_mpi ? " (MPI)" : " (environment only)");
}

// The topology and placement phases. `local` is the node communicator (MPI_COMM_NULL in env-only
// mode, where every failure is this rank's own).
void place(Session::State& st, MPI_Comm comm, MPI_Comm local, const EnvMap& env, const std::string& host) {
  const Settings& s = st.settings;
  if (!s.placement.value) return;
#if MPINIT_HAVE_HWLOC
  auto finish = [&](detail::PhaseStatus& status) {
    if (comm != MPI_COMM_NULL) {
      detail::agree(comm, status, host);
    } else if (status.failed) {
      throw Error(status.code,
                  "mpinit: phase '" + status.phase + "' failed: " + status.message +
                      detail::raised_on(std::to_string(st.identity.rank.value), host),
                  status.phase, {}, 1);
    }
  };
  detail::PhaseStatus topo;
  run_phase(st, "topology", topo, [&] { detail::load_node(local, s.topology_file, st.node); });
  finish(topo);
  detail::PhaseStatus plan;
  run_phase(st, "placement", plan, [&] {
    const int lsize = std::max(1, st.identity.local_size.value);
    const int lrank = std::max(0, st.identity.local_rank.value);
    PlanRequest req;
    req.local_size = lsize;
    req.policy = s.gpu_policy.value;
    req.oversubscribe = s.oversubscribe.value;
    req.visible = detail::visible_lists(local, lsize, st.node.node, env, &req.visible_source);
    st.placement = plan_placement(st.node.node, req);
    st.applied = detail::apply_plan(st.node, st.placement->ranks[lrank], s, st.log, env);
  });
  finish(plan);
#else
  (void)comm, (void)local, (void)env, (void)host;
  if (s.topology_file.source != "default" || s.gpu_policy.source != "default")
    throw Error(Errc::not_built, "mpinit was built without hwloc: placement settings (" +
                                     std::string(s.topology_file.source != "default" ? s.topology_file.source
                                                                                     : s.gpu_policy.source) +
                                     ") cannot be honoured (rebuild with -Dhwloc=enabled)");
  st.log.info("built without hwloc: no placement");
#endif
}

}  // namespace

Session launch(int* argc, char*** argv, const Options& options) {
  auto st = std::make_unique<Session::State>();
  const EnvMap env = options.env ? *options.env : process_env();
  const std::string host = hostname();
  detail::PhaseStatus pre;  // the first failure before MPI is up; agreed once MPI is

  run_phase(*st, "settings", pre, [&] { st->settings = resolve_settings(options, env); });
  st->log = Logger(st->settings.log_level.value, st->settings.log_all_ranks.value);
  if (!pre.failed)
    run_phase(*st, "environment", pre, [&] { st->env = parse_launch_env(env); });
  if (st->env.rank) st->log.set_rank(st->env.rank->value, st->env.local_rank ? st->env.local_rank->value : -1);

  const InitMode mode = st->settings.mode.value;
  if (mode == InitMode::env_only) {
    // No MPI to agree over: each rank reports its own failure.
    if (pre.failed)
      throw Error(pre.code,
                  "mpinit: phase '" + pre.phase + "' failed: " + pre.message + detail::raised_on(rank_from_env(env), host),
                  pre.phase, {}, 1);
    auto t0 = Clock::now();
    st->identity = identity_from_env(st->env, host);
    st->thread_level = st->settings.thread_level.value;
    st->timings.push_back({"identity", std::chrono::duration<double>(Clock::now() - t0).count()});
    place(*st, MPI_COMM_NULL, MPI_COMM_NULL, env, host);
  } else {
    auto t0 = Clock::now();
    detail::init_or_adopt(mode, st->settings.thread_level.value, st->settings.thread_level.source != "default",
                          argc, argv, options.comm, st->log, st->mpi);
    st->thread_level = st->mpi.provided;
    st->timings.push_back({"mpi", std::chrono::duration<double>(Clock::now() - t0).count()});
    detail::agree(st->mpi.comm, pre, host);

    detail::PhaseStatus status;
    run_phase(*st, "identity", status, [&] {
      st->identity = detail::mpi_identity(st->mpi, host, st->log);
      st->identity.launcher = st->env.launcher;
      st->log.set_rank(st->identity.rank.value, st->identity.local_rank.value);
      const CheckLevel check = st->settings.check.value;
      if (check == CheckLevel::off) return;
      std::string fatal;
      for (const auto& d : detail::cross_check(st->identity, st->env, st->mpi.is_world)) {
        if (check == CheckLevel::error && d.fatal)
          fatal += (fatal.empty() ? "" : "; ") + d.message;
        else
          st->log.warn("MPI and the launcher environment disagree: " + d.message);
      }
      if (!fatal.empty())
        throw Error(Errc::mismatch, "MPI and the launcher environment disagree: " + fatal +
                                        " (MPINIT_CHECK=warn lets the job go on with MPI's values)");
    });
    detail::agree(st->mpi.comm, status, host);
    place(*st, st->mpi.comm, st->mpi.local, env, host);
  }

  const Logger& log = st->log;
  for (const auto& w : st->settings.warnings) log.warn(w);
  log.info(summary(st->identity));
  if (log.enabled(LogLevel::debug)) {
    for (const auto& row : describe(st->settings))
      log.debug("setting " + row.name + "=" + row.value + " (from " + row.source + ")");
    for (const auto& n : st->env.notes) log.debug("environment: " + n);
    if (st->placement) {
      const RankPlan& p = st->placement->ranks[std::max(0, st->identity.local_rank.value)];
      log.debug("placement: " + p.reason + "; " + st->applied);
      for (const auto& n : st->placement->notes) log.debug("placement: " + n);
    }
    std::string t;
    for (const auto& p : st->timings) t += " " + p.phase + "=" + std::to_string(p.seconds * 1e3) + "ms";
    log.debug("phase timings:" + t);
  }
  return Session(std::move(st));
}

Session::Session(std::unique_ptr<State> s) : s_(std::move(s)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

const Identity& Session::identity() const noexcept { return s_->identity; }
const Settings& Session::settings() const noexcept { return s_->settings; }
const LaunchEnv& Session::launch_env() const noexcept { return s_->env; }
const std::vector<PhaseTiming>& Session::timings() const noexcept { return s_->timings; }
const Logger& Session::logger() const noexcept { return s_->log; }
MPI_Comm Session::comm() const noexcept { return s_->mpi.comm; }
MPI_Comm Session::local_comm() const noexcept { return s_->mpi.local; }
bool Session::owns_mpi() const noexcept { return s_->mpi.owns_init; }
ThreadLevel Session::thread_level() const noexcept { return s_->thread_level; }
const Placement* Session::placement() const noexcept { return s_->placement ? &*s_->placement : nullptr; }
const RankPlan* Session::plan() const noexcept {
  return s_->placement ? &s_->placement->ranks[std::max(0, s_->identity.local_rank.value)] : nullptr;
}
const std::string& Session::applied() const noexcept { return s_->applied; }
#if MPINIT_HAVE_HWLOC
const NodeTopology* Session::topology() const noexcept { return s_->placement ? &s_->node.node : nullptr; }
bool Session::discovered_topology() const noexcept { return s_->node.discovered; }
#else
const NodeTopology* Session::topology() const noexcept { return nullptr; }
bool Session::discovered_topology() const noexcept { return false; }
#endif

const char* version() noexcept { return MPINIT_VERSION_STRING; }

}  // namespace v1
}  // namespace mpinit
