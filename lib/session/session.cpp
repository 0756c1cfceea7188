// Session orchestration: launch()'s phases in order, each ending in a collective status
// agreement (the phases themselves: phases.cpp).
#include "mpinit/session.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/failure.hpp"
#include "core/system.hpp"
#include "launcher/launcher.hpp"
#include "session/state.hpp"

namespace mpinit {
inline namespace v2 {
namespace {

using Clock = std::chrono::steady_clock;

std::string summary(const Identity& id) {
  return "rank " + std::to_string(id.rank) + "/" + std::to_string(id.size) + ", local " +
         std::to_string(id.local_rank) + "/" + std::to_string(id.local_size) + ", node " +
         std::to_string(id.node_rank) + "/" + std::to_string(id.node_count) + ", host " + id.host +
         ", launcher " + to_string(id.launcher) + (id.from_mpi ? " (MPI)" : " (environment only)");
}

void record(Session::State& st, const char* phase, Clock::time_point t0) {
  st.timings.push_back({phase, std::chrono::duration<double>(Clock::now() - t0).count()});
}

// The identity phase under MPI: MPI's view, checked against the launcher's.
void mpi_identity_phase(Session::State& st, detail::Watchdog& watchdog, const std::string& host) {
  st.identity = detail::mpi_identity(st.mpi, host, st.log);
  st.identity.launcher = st.env.launcher;
  st.log.set_rank(st.identity.rank, st.identity.local_rank);
  watchdog.set_rank(st.identity.rank);
  const CheckLevel check = st.settings.check.value;
  if (check == CheckLevel::off) return;
  std::string fatal;
  for (const auto& d : detail::cross_check(st.identity, st.env, st.mpi.is_world)) {
    if (check == CheckLevel::error && d.fatal)
      fatal += (fatal.empty() ? "" : "; ") + d.message;
    else
      st.log.warn("MPI and the launcher environment disagree: " + d.message);
  }
  // Going on as N singletons makes no sense, so the way out is offered only for other cases.
  if (!fatal.empty())
    throw Error(Errc::mismatch, "MPI and the launcher environment disagree: " + fatal +
                                    (fatal.find("every process is a singleton") != std::string::npos
                                         ? ""
                                         : " (MPINIT_CHECK=warn lets the job go on with MPI's values)"));
}

void log_launch(const Session::State& st) {
  const Logger& log = st.log;
  for (const auto& w : st.settings.warnings) log.warn(w);
  log.info(summary(st.identity));
  if (!log.enabled(LogLevel::debug)) return;
  for (const auto& row : describe(st.settings))
    log.debug("setting " + row.name + "=" + row.value + " (from " + row.source + ")");
  for (const auto& n : st.env.notes) log.debug("environment: " + n);
  if (st.placement) {
    const RankPlan& p = st.placement->ranks[st.planned_local_rank];
    log.debug(std::string("placement") + (st.placed_before_mpi ? " (before MPI_Init)" : "") + ": " + p.reason +
              "; " + st.applied);
    for (const auto& n : st.placement->notes) log.debug("placement: " + n);
  }
  std::string t;
  for (const auto& p : st.timings) t += " " + p.phase + "=" + std::to_string(p.seconds * 1e3) + "ms";
  log.debug("phase timings:" + t);
  log.debug("seeds: global " + std::to_string(st.global_seed.value) + " (from " + st.global_seed.source +
            "), this rank " + std::to_string(st.rank_seed));
}

// Like `python -m mpi4py`: one line naming the rank and host, then MPI_Abort over the world.
[[noreturn]] void end_alone(const Identity& id) noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) std::_Exit(1);  // nothing left to wait for; the exception would have ended it too
  std::fflush(stdout);           // what the program printed goes out before the job ends
  const std::string line = "mpinit: rank " + std::to_string(id.rank) + " (" + id.host +
                           ") unwound from an exception that the other ranks did not raise with it (not an "
                           "agreed mpinit::Error): its Session ends the job with MPI_Abort(MPI_COMM_WORLD, 1) "
                           "instead of waiting in MPI_Finalize for ranks that may never get there (raised by "
                           "mpinit::~Session on rank " +
                           std::to_string(id.rank) + ", " + id.host + ")\n";
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(2, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace

Session launch(int* argc, char*** argv, const Options& options) {
  auto st = std::make_unique<Session::State>();
  const EnvMap env = options.env ? *options.env : process_env();
  const std::string host = detail::hostname();
#if MPINIT_HAVE_HWLOC
  detail::initial_affinity();  // the binding the process started with, before anything binds it
#endif
  detail::PhaseStatus pre;  // the first failure before MPI is up; agreed once MPI is

  detail::run_phase(*st, "settings", pre, [&] {
    Flags flags = take_flags(argc, argv);
    flags.insert(flags.end(), options.flags.begin(), options.flags.end());  // the caller's win
    st->settings = resolve_settings(options, env, flags);
  });
  st->log = Logger(st->settings.log_level.value, st->settings.log_all_ranks.value);
  if (!pre.failed) detail::run_phase(*st, "environment", pre, [&] { st->env = parse_launch_env(env); });
  if (st->env.rank != kUnknown) st->log.set_rank(st->env.rank, st->env.local_rank);
  const std::string env_rank = detail::rank_for_messages(env);

  const InitMode mode = st->settings.mode.value;
  if (mode == InitMode::env_only) {
    // No MPI to agree over: each rank reports its own failure.
    if (pre.failed) {
      detail::share_early_failure(*st, env, host, pre, true);
      throw detail::lone_failure(pre.code, pre.phase, pre.message, env_rank, host);
    }
    auto t0 = Clock::now();
    st->identity = identity_from_env(st->env, host);
    st->thread_level = st->settings.thread_level.value;
    record(*st, "identity", t0);
    detail::place_without_mpi(*st, env, host, nullptr);
    detail::PhaseStatus seed;
    detail::run_phase(*st, "seed", seed, [&] { detail::agree_seed(*st, MPI_COMM_NULL); });
    if (seed.failed) throw detail::lone_failure(seed.code, "seed", seed.message, env_rank, host);
    if (st->settings.nccl.value == NcclMode::launch)
      throw Error(Errc::invalid_setting, "MPINIT_NCCL=launch needs MPI, and this session has none (env-only mode)");
    log_launch(*st);
    return Session(std::move(st));
  }

  // From here on ranks wait for each other: for the node's share, in MPI_Init, in each agreement.
  detail::Watchdog watchdog(st->settings.launch_timeout_s.value, st->timeout_setting(), env_rank, host);
  st->watchdog = &watchdog;
  struct Unhook {  // the session forgets the watchdog before it ends, also when launch() unwinds
    Session::State* st;
    ~Unhook() { st->watchdog = nullptr; }
  } unhook{st.get()};
  if (!pre.failed) {
    detail::run_phase(*st, "placement", pre, [&] {
      std::string why;
      st->placed_before_mpi = detail::place_before_mpi(*st, options, &why);
      st->log.debug(std::string("placement ") + (st->placed_before_mpi ? "before" : "after") + " MPI_Init: " + why);
    });
    st->timings.pop_back();  // the decision is not a phase of its own
  }
  if (st->placed_before_mpi) {
    st->identity = identity_from_env(st->env, host);  // what the plan is made from; MPI checks it below
    detail::place_without_mpi(*st, env, host, &pre);
  } else if (pre.failed) {
    detail::share_early_failure(*st, env, host, pre, false);
  }

  watchdog.enter("mpi");
  auto t0 = Clock::now();
  try {
    detail::init_or_adopt(mode, st->settings.thread_level.value, st->settings.thread_level.source != "default", argc,
                          argv, options.comm, st->log, st->mpi);
  } catch (const Error& e) {
    // No MPI to agree over (not initialized, or in a state mpinit cannot use): every rank says
    // so itself, naming the setting that asked for this mode.
    throw detail::lone_failure(e.code(), "mpi", std::string(e.what()) + " (mode from " + st->settings.mode.source + ")",
                               env_rank, host);
  }
  st->thread_level = st->mpi.provided;
  record(*st, "mpi", t0);
  watchdog.mpi_up(st->mpi.comm, st->mpi.provided == ThreadLevel::multiple);
  watchdog.enter(pre.failed ? pre.phase.c_str() : "environment");
  detail::agree(st->mpi.comm, pre, host);

  detail::PhaseStatus status;
  detail::run_phase(*st, "identity", status, [&] { mpi_identity_phase(*st, watchdog, host); });
  detail::agree(st->mpi.comm, status, host);
  st->drop_share();  // every local rank is past MPI_Init, so past reading it
  if (st->placed_before_mpi)
    detail::verify_placement(*st, env, host);
  else
    detail::place_with_mpi(*st, env, host);
  detail::PhaseStatus seed;
  detail::run_phase(*st, "seed", seed, [&] { detail::agree_seed(*st, st->mpi.comm); });
  detail::agree(st->mpi.comm, seed, host);
  if (st->settings.nccl.value == NcclMode::launch) {
    auto t1 = Clock::now();
    watchdog.enter("nccl");
    // One budget: NCCL's wait ends before the watchdog's deadline, so its timeout is agreed on.
    st->nccl.push_back(nccl_comm_for(st->mpi.comm, st->launch_nccl_options(t1)));  // agrees itself
    st->world_nccl = &st->nccl.back();
    record(*st, "nccl", t1);
  }
  log_launch(*st);
  return Session(std::move(st));
}

Session::Session(std::unique_ptr<State> s) : s_(std::move(s)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() {
  // A rank that unwinds from an exception no other rank raised would wait in MPI_Finalize (in
  // ~State) for ranks that wait for it in a collective: the job would hang. It ends the job.
  if (s_ && s_->mpi.owns_init && std::uncaught_exceptions() > s_->uncaught && detail::agreed_errors_alive() == 0)
    end_alone(s_->identity);
}

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
  return st.placement ? &st.placement->ranks[st.planned_local_rank] : nullptr;
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
