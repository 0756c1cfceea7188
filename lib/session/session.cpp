// Session orchestration: phases in order, each ending in a collective status agreement.
#include "mpinit/session.hpp"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <list>
#include <string>

#include "agree/agree.hpp"
#include "core/failure.hpp"
#include "core/system.hpp"
#include "launcher/launcher.hpp"
#include "mpi/world.hpp"
#include "mpinit/features.hpp"
#include "session/watchdog.hpp"
#if MPINIT_HAVE_HWLOC
#include "node/node.hpp"
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
#endif
  std::optional<Placement> placement;
  std::string applied;
  Sourced<std::uint64_t> global_seed{kDefaultSeed, "default"};
  std::uint64_t rank_seed = 0;
  std::mt19937_64 rng;
  NcclComm* world_nccl = nullptr;
  std::list<NcclComm> nccl;  // stable addresses; destroyed before MPI is finalized
  detail::Watchdog* watchdog = nullptr;  // during launch() under MPI

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    nccl.clear();  // NCCL communicators go first, also when an error unwinds launch()
    detail::release(mpi);
  }
  NcclOptions nccl_options() const {
    NcclOptions o;
    o.timeout_s = settings.nccl_timeout_s.value;
    o.ranks_per_root = settings.nccl_ranks_per_root.value;
    return o;
  }
};

namespace {

using Clock = std::chrono::steady_clock;

// Runs one phase body, records its time, and turns an exception into a PhaseStatus.
template <class F>
void run_phase(Session::State& st, const char* phase, detail::PhaseStatus& status, F&& body) {
  auto t0 = Clock::now();
  if (st.watchdog) st.watchdog->enter(phase);
  try {
    body();
  } catch (const Error& e) {
    status = {true, e.code(), phase, e.what()};
  } catch (const std::exception& e) {
    status = {true, Errc::internal, phase, std::string("unexpected error: ") + e.what()};
  }
  st.timings.push_back({phase, std::chrono::duration<double>(Clock::now() - t0).count()});
}

// "MPINIT_LAUNCH_TIMEOUT=30", "--mpinit-launch-timeout=30", "Options::launch_timeout_s=30",
// "MPINIT_LAUNCH_TIMEOUT=300 (the default)": the value as the user would find and change it.
std::string setting_text(const Sourced<int>& v, const char* var, const char* option) {
  const std::string value = std::to_string(v.value);
  if (v.source == "default") return std::string(var) + "=" + value + " s (the default)";
  if (v.source == "option") return std::string(option) + "=" + value + " s";
  return v.source + "=" + value + " s";
}

std::string summary(const Identity& id) {
  return "rank " + std::to_string(id.rank) + "/" + std::to_string(id.size) + ", local " +
         std::to_string(id.local_rank) + "/" + std::to_string(id.local_size) + ", node " +
         std::to_string(id.node_rank) + "/" + std::to_string(id.node_count) + ", host " + id.host +
         ", launcher " + to_string(id.launcher) + (id.from_mpi ? " (MPI)" : " (environment only)");
}

// The topology and placement phases. `local` is the node communicator (MPI_COMM_NULL in env-only
// mode, where every failure is this rank's own).
void place(Session::State& st, MPI_Comm comm, MPI_Comm local, const EnvMap& env, const std::string& host) {
  const Settings& s = st.settings;
  if (!s.placement.value) return;
#if MPINIT_HAVE_HWLOC
  auto finish = [&](const detail::PhaseStatus& status) {
    detail::agree_or_raise(comm, status, std::to_string(st.identity.rank), host);
  };
  detail::PhaseStatus topo;
  run_phase(st, "topology", topo, [&] { detail::load_node(local, s.topology_file, st.node); });
  finish(topo);
  detail::PhaseStatus plan;
  run_phase(st, "placement", plan, [&] {
    const int lsize = std::max(1, st.identity.local_size);
    const int lrank = std::max(0, st.identity.local_rank);
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

// The seed phase: rank 0's global seed is everyone's (a random one is drawn by rank 0).
void agree_seed(Session::State& st, MPI_Comm comm) {
  const SeedSetting& mine = st.settings.seed.value;
  std::uint64_t buf[2] = {mine.value, mine.random ? 1u : 0u};
  const int rank = std::max(0, st.identity.rank);
  if (comm == MPI_COMM_NULL) {
    if (mine.random)
      throw Error(Errc::invalid_setting, st.settings.seed.source + "='random' needs MPI to agree on one value, and "
                                                                   "this session has none (env-only mode)");
  } else {
    if (rank == 0 && mine.random) buf[0] = (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
    detail::check_mpi(MPI_Bcast(buf, 2, MPI_UINT64_T, 0, comm), "MPI_Bcast(seed)");
    if (!mine.random && !buf[1] && buf[0] != mine.value)
      st.log.warn(st.settings.seed.source + "=" + std::to_string(mine.value) + " on this rank, but rank 0's seed " +
                  std::to_string(buf[0]) + " is used");
  }
  st.global_seed = {buf[0], buf[1] ? "random (drawn by rank 0)"
                                   : (comm == MPI_COMM_NULL || st.settings.seed.source == "default"
                                          ? st.settings.seed.source
                                          : st.settings.seed.source + " of rank 0")};
  st.rank_seed = derive_seed(buf[0], rank);
  st.rng.seed(st.rank_seed);
  std::srand(static_cast<unsigned>(st.rank_seed));
  if (buf[1])
    st.log.info("global seed " + std::to_string(buf[0]) + " (random; MPINIT_SEED=" + std::to_string(buf[0]) +
                " reproduces it)");
}

}  // namespace

Session launch(int* argc, char*** argv, const Options& options) {
  auto st = std::make_unique<Session::State>();
  const EnvMap env = options.env ? *options.env : process_env();
  const std::string host = detail::hostname();
  detail::PhaseStatus pre;  // the first failure before MPI is up; agreed once MPI is

  run_phase(*st, "settings", pre, [&] {
    Flags flags = take_flags(argc, argv);
    flags.insert(flags.end(), options.flags.begin(), options.flags.end());  // the caller's win
    st->settings = resolve_settings(options, env, flags);
  });
  st->log = Logger(st->settings.log_level.value, st->settings.log_all_ranks.value);
  if (!pre.failed)
    run_phase(*st, "environment", pre, [&] { st->env = parse_launch_env(env); });
  if (st->env.rank != kUnknown) st->log.set_rank(st->env.rank, st->env.local_rank);

  const InitMode mode = st->settings.mode.value;
  if (mode == InitMode::env_only) {
    // No MPI to agree over: each rank reports its own failure.
    if (pre.failed) throw detail::lone_failure(pre.code, pre.phase, pre.message, detail::rank_for_messages(env), host);
    auto t0 = Clock::now();
    st->identity = identity_from_env(st->env, host);
    st->thread_level = st->settings.thread_level.value;
    st->timings.push_back({"identity", std::chrono::duration<double>(Clock::now() - t0).count()});
    place(*st, MPI_COMM_NULL, MPI_COMM_NULL, env, host);
    detail::PhaseStatus seed;
    run_phase(*st, "seed", seed, [&] { agree_seed(*st, MPI_COMM_NULL); });
    if (seed.failed) throw detail::lone_failure(seed.code, "seed", seed.message, detail::rank_for_messages(env), host);
    if (st->settings.nccl.value == NcclMode::launch)
      throw Error(Errc::invalid_setting, "MPINIT_NCCL=launch needs MPI, and this session has none (env-only mode)");
  } else {
    // From here on ranks wait for each other, beginning with MPI_Init.
    detail::Watchdog watchdog(st->settings.launch_timeout_s.value,
                              setting_text(st->settings.launch_timeout_s, "MPINIT_LAUNCH_TIMEOUT",
                                           "Options::launch_timeout_s"),
                              detail::rank_for_messages(env), host);
    st->watchdog = &watchdog;
    watchdog.enter("mpi");
    auto t0 = Clock::now();
    try {
      detail::init_or_adopt(mode, st->settings.thread_level.value, st->settings.thread_level.source != "default",
                            argc, argv, options.comm, st->log, st->mpi);
    } catch (const Error& e) {
      // No MPI to agree over (not initialized, or in a state mpinit cannot use): every rank says
      // so itself, naming the setting that asked for this mode.
      throw detail::lone_failure(e.code(), "mpi", std::string(e.what()) + " (mode from " + st->settings.mode.source + ")",
                                 detail::rank_for_messages(env), host);
    }
    st->thread_level = st->mpi.provided;
    st->timings.push_back({"mpi", std::chrono::duration<double>(Clock::now() - t0).count()});
    watchdog.mpi_up(st->mpi.comm);
    watchdog.enter(pre.failed ? pre.phase.c_str() : "environment");
    detail::agree(st->mpi.comm, pre, host);

    detail::PhaseStatus status;
    run_phase(*st, "identity", status, [&] {
      st->identity = detail::mpi_identity(st->mpi, host, st->log);
      st->identity.launcher = st->env.launcher;
      st->log.set_rank(st->identity.rank, st->identity.local_rank);
      watchdog.set_rank(st->identity.rank);
      const CheckLevel check = st->settings.check.value;
      if (check == CheckLevel::off) return;
      std::string fatal;
      for (const auto& d : detail::cross_check(st->identity, st->env, st->mpi.is_world)) {
        if (check == CheckLevel::error && d.fatal)
          fatal += (fatal.empty() ? "" : "; ") + d.message;
        else
          st->log.warn("MPI and the launcher environment disagree: " + d.message);
      }
      // Going on as N singletons makes no sense, so the way out is offered only for other cases.
      if (!fatal.empty())
        throw Error(Errc::mismatch, "MPI and the launcher environment disagree: " + fatal +
                                        (fatal.find("every process is a singleton") != std::string::npos
                                             ? ""
                                             : " (MPINIT_CHECK=warn lets the job go on with MPI's values)"));
    });
    detail::agree(st->mpi.comm, status, host);
    place(*st, st->mpi.comm, st->mpi.local, env, host);
    detail::PhaseStatus seed;
    run_phase(*st, "seed", seed, [&] { agree_seed(*st, st->mpi.comm); });
    detail::agree(st->mpi.comm, seed, host);
    if (st->settings.nccl.value == NcclMode::launch) {
      auto t0 = Clock::now();
      watchdog.enter("nccl");
      st->nccl.push_back(nccl_comm_for(st->mpi.comm, st->nccl_options()));  // agrees itself
      st->world_nccl = &st->nccl.back();
      st->timings.push_back({"nccl", std::chrono::duration<double>(Clock::now() - t0).count()});
    }
    st->watchdog = nullptr;
  }

  const Logger& log = st->log;
  for (const auto& w : st->settings.warnings) log.warn(w);
  log.info(summary(st->identity));
  if (log.enabled(LogLevel::debug)) {
    for (const auto& row : describe(st->settings))
      log.debug("setting " + row.name + "=" + row.value + " (from " + row.source + ")");
    for (const auto& n : st->env.notes) log.debug("environment: " + n);
    if (st->placement) {
      const RankPlan& p = st->placement->ranks[std::max(0, st->identity.local_rank)];
      log.debug("placement: " + p.reason + "; " + st->applied);
      for (const auto& n : st->placement->notes) log.debug("placement: " + n);
    }
    std::string t;
    for (const auto& p : st->timings) t += " " + p.phase + "=" + std::to_string(p.seconds * 1e3) + "ms";
    log.debug("phase timings:" + t);
    log.debug("seeds: global " + std::to_string(st->global_seed.value) + " (from " + st->global_seed.source +
              "), this rank " + std::to_string(st->rank_seed));
  }
  return Session(std::move(st));
}

Session::Session(std::unique_ptr<State> s) : s_(std::move(s)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

namespace {
// What a moved-from Session answers: the values of a session that has nothing. Never destroyed
// (it has nothing to release).
Session::State& empty_state() {
  static Session::State* empty = new Session::State;
  return *empty;
}
Session::State& or_empty(const std::unique_ptr<Session::State>& s) { return s ? *s : empty_state(); }
Session::State& or_throw(const std::unique_ptr<Session::State>& s, const char* what) {
  if (!s)
    throw Error(Errc::invalid_setting, std::string("Session::") + what + " on a moved-from mpinit::Session (on " +
                                           detail::hostname() + "): it has nothing left; use the Session it was "
                                           "moved to");
  return *s;
}
}  // namespace

const Identity& Session::identity() const noexcept { return or_empty(s_).identity; }
const Settings& Session::settings() const noexcept { return or_empty(s_).settings; }
const LaunchEnv& Session::launch_env() const noexcept { return or_empty(s_).env; }
const std::vector<PhaseTiming>& Session::timings() const noexcept { return or_empty(s_).timings; }
const Logger& Session::logger() const noexcept { return or_empty(s_).log; }
MPI_Comm Session::comm() const noexcept { return or_empty(s_).mpi.comm; }
MPI_Comm Session::local_comm() const noexcept { return or_empty(s_).mpi.local; }
bool Session::owns_mpi() const noexcept { return or_empty(s_).mpi.owns_init; }
ThreadLevel Session::thread_level() const noexcept { return or_empty(s_).thread_level; }
const Placement* Session::placement() const noexcept {
  const State& st = or_empty(s_);
  return st.placement ? &*st.placement : nullptr;
}
const RankPlan* Session::plan() const noexcept {
  const State& st = or_empty(s_);
  return st.placement ? &st.placement->ranks[std::max(0, st.identity.local_rank)] : nullptr;
}
const std::string& Session::applied() const noexcept { return or_empty(s_).applied; }
#if MPINIT_HAVE_HWLOC
const NodeTopology* Session::topology() const noexcept {
  const State& st = or_empty(s_);
  return st.placement ? &st.node.node : nullptr;
}
bool Session::discovered_topology() const noexcept { return or_empty(s_).node.discovered; }
#else
const NodeTopology* Session::topology() const noexcept { return nullptr; }
bool Session::discovered_topology() const noexcept { return false; }
#endif
const Sourced<std::uint64_t>& Session::global_seed() const noexcept { return or_empty(s_).global_seed; }
std::uint64_t Session::rank_seed() const noexcept { return or_empty(s_).rank_seed; }
std::uint64_t Session::seed_for(const std::string& stream) const {
  const State& st = or_empty(s_);
  return derive_seed(st.global_seed.value, std::max(0, st.identity.rank), stream);
}
std::mt19937_64& Session::rng() noexcept { return or_empty(s_).rng; }

void Session::agree(const std::string& phase, const std::string& cause, Errc code) const {
  const State& st = or_throw(s_, "agree");
  detail::PhaseStatus status;
  if (!cause.empty()) status = {true, code, phase, cause};
  detail::agree_or_raise(st.mpi.comm, status, std::to_string(st.identity.rank), st.identity.host);
}

NcclComm& Session::nccl() {
  State& st = or_throw(s_, "nccl()");
  if (st.world_nccl) return *st.world_nccl;
  if (st.settings.nccl.value == NcclMode::off)
    throw Error(Errc::invalid_setting, "NCCL is off (" + st.settings.nccl.source + "=off)");
  if (st.mpi.comm == MPI_COMM_NULL)
    throw Error(Errc::invalid_setting, "an NCCL communicator needs MPI, and this session has none (env-only mode)");
  st.world_nccl = &nccl_for(st.mpi.comm);
  return *st.world_nccl;
}

NcclComm& Session::nccl_for(MPI_Comm comm) {
  State& st = or_throw(s_, "nccl_for");
  st.nccl.push_back(nccl_comm_for(comm, st.nccl_options()));
  return st.nccl.back();
}

NcclComm& Session::nccl_split(NcclComm& parent, MPI_Comm parent_mpi, int color, int key) {
  State& st = or_throw(s_, "nccl_split");
  st.nccl.push_back(mpinit::nccl_split(parent, parent_mpi, color, key, st.nccl_options()));
  return st.nccl.back();
}

const char* version() noexcept { return MPINIT_VERSION_STRING; }

}  // namespace v2
}  // namespace mpinit
