// launch()'s placement and seed phases (state.hpp): before MPI_Init through the node's share, or
// after it over the node communicator; the check of a plan made before MPI against MPI's view.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "core/failure.hpp"
#include "launcher/launcher.hpp"
#include "session/budget.hpp"
#include "session/state.hpp"

namespace mpinit {
inline namespace v2 {

Session::State::~State() {
  nccl.clear();  // NCCL communicators go first, also when an error unwinds launch()
  drop_share();
  detail::release(mpi);
}

void Session::State::drop_share() noexcept {
#if MPINIT_HAVE_HWLOC
  if (share && share_leader) share->remove();
  share.reset();
  if (watchdog) watchdog->set_share("");
#endif
}

std::chrono::steady_clock::time_point Session::State::deadline() const {
  const int t = settings.launch_timeout_s.value;
  if (t <= 0) return start + std::chrono::hours(24 * 365);
  return start + std::chrono::milliseconds(t * 1000 - std::min(2000, t * 250));
}

std::string Session::State::timeout_setting() const {
  const Sourced<int>& v = settings.launch_timeout_s;
  const std::string value = std::to_string(v.value);
  if (v.source == "default") return "MPINIT_LAUNCH_TIMEOUT=" + value + " s (the default)";
  if (v.source == "option") return "Options::launch_timeout_s=" + value + " s";
  return v.source + "=" + value + " s";
}

std::string Session::State::nccl_timeout_setting() const {
  const Sourced<int>& v = settings.nccl_timeout_s;
  const std::string value = std::to_string(v.value);
  if (v.source == "default") return "MPINIT_NCCL_TIMEOUT=" + value + " s (the default)";
  if (v.source == "option") return "Options::nccl_timeout_s=" + value + " s";
  return v.source + "=" + value + " s";
}

NcclOptions Session::State::launch_nccl_options(std::chrono::steady_clock::time_point now) const {
  NcclOptions o = nccl_options();
  const int t = settings.launch_timeout_s.value;
  const detail::NcclWait wait = detail::nccl_wait_budget(now, detail::nccl_deadline(start, t), o.timeout_s);
  if (wait.by_launch) {
    o.timeout_s = wait.seconds;
    char margin[32];
    std::snprintf(margin, sizeof margin, "%g", detail::nccl_margin(t).count() / 1000.0);
    o.timeout_setting = "what was left of " + timeout_setting() + " for launch(), less " + margin +
                        " s kept for the abort and the agreement; " + nccl_timeout_setting() + " is longer";
  }
  return o;
}

}  // namespace v2
}  // namespace mpinit

namespace mpinit::detail {

bool place_before_mpi(const Session::State& st, const Options& options, std::string* why) {
  const Settings& s = st.settings;
  const Sourced<PlaceWhen>& when = s.place;
  if (!s.placement.value) return *why = "placement is off", false;
  if (when.value == PlaceWhen::after) return *why = when.source + "=after", false;
  int initialized = 0;
  MPI_Initialized(&initialized);
  const Identity id = identity_from_env(st.env, "");
  std::string cannot;
  if (initialized || options.comm != MPI_COMM_NULL)
    cannot = "MPI was initialized by the caller";
  else if (s.mode.value == InitMode::adopt)
    cannot = "mode 'adopt' uses an MPI the caller initializes";
  else if (id.local_rank == kUnknown || id.local_size == kUnknown)
    cannot = "the launcher (" + std::string(to_string(st.env.launcher)) + ") does not tell the local rank and size";
  if (cannot.empty()) return *why = "the launcher tells the local rank and size", true;
  if (when.value == PlaceWhen::before)
    throw Error(Errc::invalid_setting, when.source + "=before asks to place the process before MPI_Init, but " + cannot);
  return *why = cannot, false;
}

namespace {

#if !MPINIT_HAVE_HWLOC
// Built without hwloc: placement asked for explicitly is an error, else there is just none.
PhaseStatus without_hwloc(const Session::State& st) {
  const Settings& s = st.settings;
  if (s.topology_file.source == "default" && s.gpu_policy.source == "default") {
    st.log.info("built without hwloc: no placement");
    return {};
  }
  return {true, Errc::not_built, "topology",
          "mpinit was built without hwloc: placement settings (" +
              std::string(s.topology_file.source != "default" ? s.topology_file.source : s.gpu_policy.source) +
              ") cannot be honoured (rebuild with -Dhwloc=enabled)"};
}
#else
LoadRequest load_request(const Settings& s) { return {s.topology_file, s.rebind.value}; }

// Plan every local rank of the node on what this rank loaded, and apply this rank's entry.
void plan_and_apply(Session::State& st, MPI_Comm local, int lrank, int lsize, const EnvMap& env) {
  const Settings& s = st.settings;
  PlanRequest req;
  req.local_size = std::max(1, lsize);
  req.policy = s.gpu_policy.value;
  req.oversubscribe = s.oversubscribe.value;
  req.visible = visible_lists(local, req.local_size, st.node.node, env, &req.visible_source);
  st.placement = plan_placement(st.node.node, req);
  st.planned_local_rank = std::clamp(lrank, 0, req.local_size - 1);
  st.planned_local_size = req.local_size;
  st.applied = apply_plan(st.node, st.placement->ranks[st.planned_local_rank], s, st.log, env);
}
#endif

}  // namespace

void place_without_mpi(Session::State& st, const EnvMap& env, const std::string& host, PhaseStatus* pre) {
  const Settings& s = st.settings;
  if (!s.placement.value) return;
  const std::string rank = std::to_string(st.identity.rank);
  auto fail = [&](const PhaseStatus& status) {
    if (!status.failed) return false;
    if (!pre) throw lone_failure(status.code, status.phase, status.message, rank, host);
    if (!pre->failed) *pre = status;
    return true;
  };
#if MPINIT_HAVE_HWLOC
  const int lrank = std::max(0, st.identity.local_rank), lsize = std::max(1, st.identity.local_size);
  PhaseStatus topo;
  bool have = false, key_guessed = false;
  run_phase(st, "topology", topo, [&] {
    const auto key = lsize > 1 && s.topology_share.value ? share_key(env) : std::nullopt;
    if (lsize > 1 && !s.topology_share.value)
      st.log.debug(s.topology_share.source + "=off: this rank discovers the topology itself");
    else if (lsize > 1 && !key)
      st.log.info("the launcher (" + std::string(to_string(st.env.launcher)) +
                  ") names no job: every rank of the node discovers the topology itself");
    key_guessed = key && key->guessed;
    if (key) {
      st.share.emplace(share_dir(s.share_dir.value, env, key->value, host), key->value, st.identity.rank, lrank, lsize, host);
      st.share_leader = lrank == 0;
      if (st.share_leader && st.watchdog) st.watchdog->set_share(st.share->dir());
      st.log.debug("the node's share is " + st.share->dir() + " (key from " + key->source + ")");
    }
    std::string leader_error;
    have = load_node_shared(st.share ? &*st.share : nullptr, lrank == 0, load_request(s), st.node, st.log,
                            st.deadline(), st.timeout_setting(), &leader_error, key && key->guessed);
    // Before MPI the leader's own failure is agreed once MPI is up; in env-only mode every rank says it.
    if (!have && !pre) throw Error(Errc::invalid_environment, "the node's leader failed: " + leader_error);
  });
  if (topo.failed && pre && st.share && lrank != 0)
    st.log.error("phase 'topology' failed: " + topo.message + raised_on(rank, host));  // the leader may be gone
  if (fail(topo) || !have) return;
  PhaseStatus plan;
  run_phase(st, "placement", plan, [&] {
    const Identity& id = st.identity;
    // Without MPI the local size is the launcher's: a plan for a guessed one would give this rank an
    // entry it may not have (Flux on several nodes gives FLUX_TASK_LOCAL_ID and no local size).
    if (id.local_size == kUnknown && id.local_rank != kUnknown)
      throw Error(Errc::invalid_environment,
                  std::string("the launcher (") + to_string(id.launcher) + ") gives the local rank (" +
                      id.sources.local_rank + "=" + std::to_string(id.local_rank) +
                      ") but no local size, and without MPI nothing else does: the node cannot be planned "
                      "(run with MPI, or set MPINIT_PLACEMENT=off)");
    plan_and_apply(st, MPI_COMM_NULL, lrank, lsize, env);
  });
  fail(plan);
  if (!pre && st.share_leader) {  // env-only: nothing else tells the leader when the others have read
    // With a guessed key some local ranks may have looked elsewhere: wait for them only briefly.
    const auto until = key_guessed ? std::min(st.deadline(), std::chrono::steady_clock::now() + kGuessedKeyWait)
                                   : st.deadline();
    const std::string missing = st.share->wait_and_remove(until);
    if (!missing.empty())
      st.log.warn("local rank(s) " + missing + " never read the node's topology at " + st.share->dir() +
                  "; it is removed");
    st.share.reset();
  }
#else
  (void)env;
  fail(without_hwloc(st));
#endif
}

void share_early_failure(Session::State& st, const EnvMap& env, const std::string& host, const PhaseStatus& pre,
                         bool env_only) {
#if MPINIT_HAVE_HWLOC
  const Settings& s = st.settings;
  const auto key = share_key(env);
  if (!pre.failed || !key || !s.placement.value || !s.topology_share.value) return;
  const std::string lrank = local_rank_for_messages(env), lsize = local_size_for_messages(env);
  const std::string failure = "rank " + rank_for_messages(env) + " failed in phase '" + pre.phase + "': " + pre.message;
  try {
    NodeShare share(share_dir(s.share_dir.value, env, key->value, host), key->value, -1, lrank == "?" ? -1 : std::stoi(lrank),
                    lsize == "?" ? 0 : std::stoi(lsize), host);
    if (env_only) {
      // No MPI will bring the ranks together: the leader publishes and waits for the others to read.
      if (lrank != "0") return share.done();
      share.open_as_leader(st.log);
      share.publish({false, false, failure});
      share.wait_and_remove(key->guessed ? std::min(st.deadline(), std::chrono::steady_clock::now() + kGuessedKeyWait)
                                         : st.deadline());
      return;
    }
    // Under MPI every local rank meets in MPI_Init, where this failure is agreed: whoever failed
    // publishes it (the leader may be the one whose environment is broken), and removes it after.
    share.publish_failure(failure);
    st.share.emplace(std::move(share));
    st.share_leader = true;
    if (st.watchdog) st.watchdog->set_share(st.share->dir());
  } catch (const Error&) {
    // The share is a courtesy to the others here: this rank's own failure is what it reports.
  }
#else
  (void)st, (void)env, (void)host, (void)pre, (void)env_only;
#endif
}

void place_with_mpi(Session::State& st, const EnvMap& env, const std::string& host) {
  const Settings& s = st.settings;
  if (!s.placement.value) return;
#if MPINIT_HAVE_HWLOC
  PhaseStatus topo;
  run_phase(st, "topology", topo, [&] { load_node(st.mpi.local, load_request(s), st.node, st.log); });
  agree(st.mpi.comm, topo, host);
  PhaseStatus plan;
  run_phase(st, "placement", plan, [&] {
    plan_and_apply(st, st.mpi.local, st.identity.local_rank, st.identity.local_size, env);
  });
  agree(st.mpi.comm, plan, host);
#else
  (void)env;
  agree(st.mpi.comm, without_hwloc(st), host);
#endif
}

void verify_placement(Session::State& st, const EnvMap& env, const std::string& host) {
  PhaseStatus status;
  run_phase(st, "verify", status, [&] {
#if MPINIT_HAVE_HWLOC
    const Identity& id = st.identity;
    int differs = st.placement && (id.local_rank != st.planned_local_rank || id.local_size != st.planned_local_size);
    // Planning again exchanges visible lists over the node: every rank of it takes part when any
    // rank's plan was made from the wrong numbers (one small allreduce otherwise).
    int any = 0;
    check_mpi(MPI_Allreduce(&differs, &any, 1, MPI_INT, MPI_MAX, st.mpi.comm), "MPI_Allreduce(verify)");
    if (!any || !st.placement) return;
    if (differs)
      st.log.warn("the plan was made before MPI_Init for local rank " + std::to_string(st.planned_local_rank) +
                  " of " + std::to_string(st.planned_local_size) + " (" + st.env.sources.local_rank + ", " +
                  st.env.sources.local_size + "), but MPI says local rank " + std::to_string(id.local_rank) + " of " +
                  std::to_string(id.local_size) + ": planning and placing again with MPI's values (" +
                  st.settings.check.source + "=" + to_string(st.settings.check.value) + ")");
    plan_and_apply(st, st.mpi.local, id.local_rank, id.local_size, env);
#else
    (void)env;
#endif
  });
  agree(st.mpi.comm, status, host);
}

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
    check_mpi(MPI_Bcast(buf, 2, MPI_UINT64_T, 0, comm), "MPI_Bcast(seed)");
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

}  // namespace mpinit::detail
