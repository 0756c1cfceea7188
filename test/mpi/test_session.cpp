// Session under real mpirun (MPI initialized by the test main, so launch() adopts it).
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "mpi_test_util.hpp"
#include "mpinit/mpinit.hpp"

using namespace mpinit;

namespace {

using mpitest::same_everywhere;
using mpitest::world_rank;
using mpitest::world_size;

// Launch with `opts`; return the error message (or "" if it launched).
std::string launch_error(const Options& opts, Error* out = nullptr) {
  try {
    auto s = launch(opts);
  } catch (const Error& e) {
    if (out) *out = e;
    return e.what();
  }
  return "";
}

Options with_env(EnvMap env) {
  Options o;
  o.env = std::move(env);
  return o;
}

}  // namespace

TEST(Session, AdoptsAnInitializedMpiAndMatchesIt) {
  auto s = launch();
  const Identity& id = s.identity();
  EXPECT_FALSE(s.owns_mpi());
  EXPECT_TRUE(id.from_mpi);
  EXPECT_EQ(id.rank, world_rank());
  EXPECT_EQ(id.size, world_size());
  EXPECT_EQ(id.sources.rank, "MPI_Comm_rank");
  EXPECT_EQ(id.host, mpitest::hostname());
  // One machine: one node, and every rank is on it.
  EXPECT_EQ(id.node_count, 1);
  EXPECT_EQ(id.node_rank, 0);
  EXPECT_EQ(id.local_size, world_size());
  EXPECT_EQ(id.local_rank, world_rank());
  EXPECT_NE(s.comm(), MPI_COMM_NULL);
  int cmp = MPI_UNEQUAL;
  MPI_Comm_compare(s.comm(), MPI_COMM_WORLD, &cmp);
  EXPECT_EQ(cmp, MPI_CONGRUENT);  // a duplicate, never WORLD itself
  int lsize = 0;
  MPI_Comm_size(s.local_comm(), &lsize);
  EXPECT_EQ(lsize, world_size());
}

TEST(Session, AgreesWithOpenMpiEnvironment) {
  const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
  if (!r) GTEST_SKIP() << "not started by Open MPI's mpirun (singleton)";
  auto s = launch();
  EXPECT_EQ(s.launch_env().launcher, Launcher::openmpi);
  EXPECT_EQ(s.identity().launcher, Launcher::openmpi);
  EXPECT_EQ(s.launch_env().rank, s.identity().rank);
  EXPECT_EQ(s.launch_env().local_rank, s.identity().local_rank);
  EXPECT_EQ(s.launch_env().local_size, s.identity().local_size);
}

TEST(Session, PhasesRunInOrderAndAreTimed) {
  auto s = launch();
  std::vector<std::string> names;
  for (const auto& p : s.timings()) {
    names.push_back(p.phase);
    EXPECT_GE(p.seconds, 0.0);
  }
  std::vector<std::string> want = {"settings", "environment", "mpi", "identity"};
  if (MPINIT_HAVE_HWLOC) want.insert(want.end(), {"topology", "placement"});
  want.push_back("seed");
  EXPECT_EQ(names, want);
}

TEST(Session, OwnModeRefusesAnInitializedMpiOnEveryRank) {
  Options o;
  o.mode = InitMode::own;
  Error e(Errc::internal, "");
  std::string msg = launch_error(o, &e);
  EXPECT_NE(msg.find("already initialized"), std::string::npos) << msg;
  EXPECT_EQ(e.code(), Errc::mpi);
}

TEST(Session, SubCommunicatorIdentityIsRelativeToIt) {
  int r = world_rank(), n = world_size();
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, r % 2, r, &half);
  {
    Options o;
    o.comm = half;
    auto s = launch(o);
    int hr = 0, hs = 0;
    MPI_Comm_rank(half, &hr);
    MPI_Comm_size(half, &hs);
    EXPECT_EQ(s.identity().rank, hr);
    EXPECT_EQ(s.identity().size, hs);
    EXPECT_EQ(s.identity().size, r % 2 == 0 ? (n + 1) / 2 : n / 2);
    EXPECT_EQ(s.identity().local_size, hs);  // one node
    EXPECT_EQ(s.identity().node_count, 1);
    // The caller's communicator keeps its error handler.
    MPI_Errhandler eh;
    MPI_Comm_get_errhandler(half, &eh);
    EXPECT_EQ(eh, MPI_ERRORS_ARE_FATAL);
    MPI_Errhandler_free(&eh);
  }
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, half);  // still usable after the session
  int hs = 0;
  MPI_Comm_size(half, &hs);
  EXPECT_EQ(sum, hs);
  MPI_Comm_free(&half);
}

TEST(Session, AMovedFromSessionIsEmptyAndSafe) {
  auto a = launch();
  Session b = std::move(a);
  // What a session that has nothing answers (the old accessors dereferenced null here).
  EXPECT_EQ(a.comm(), MPI_COMM_NULL);
  EXPECT_EQ(a.local_comm(), MPI_COMM_NULL);
  EXPECT_FALSE(a.owns_mpi());
  EXPECT_EQ(a.identity().rank, kUnknown);
  EXPECT_EQ(a.identity().size, kUnknown);
  EXPECT_TRUE(a.timings().empty());
  EXPECT_EQ(a.placement(), nullptr);
  EXPECT_EQ(a.plan(), nullptr);
  EXPECT_EQ(a.topology(), nullptr);
  EXPECT_EQ(a.applied(), "");
  EXPECT_EQ(a.global_seed().value, kDefaultSeed);
  (void)a.rng()();
  // What needs the session's communicators says so, naming the call.
  for (const char* call : {"agree", "nccl()", "nccl_for"}) {
    try {
      if (std::string(call) == "agree") a.agree("mine", "");
      if (std::string(call) == "nccl()") a.nccl();
      if (std::string(call) == "nccl_for") a.nccl_for(MPI_COMM_WORLD);
      ADD_FAILURE() << call << " worked on a moved-from session";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("Session::") + call + " on a moved-from mpinit::Session"),
                std::string::npos)
          << e.what();
    }
  }
  // The session lives on in b, and can move back.
  EXPECT_EQ(b.identity().rank, world_rank());
  ASSERT_NE(b.comm(), MPI_COMM_NULL);
  b.agree("mine", "");
  a = std::move(b);
  EXPECT_EQ(a.identity().rank, world_rank());
  EXPECT_EQ(b.comm(), MPI_COMM_NULL);
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, a.comm());
  EXPECT_EQ(sum, world_size());
}

TEST(Session, WorldErrorHandlerIsUntouched) {
  { auto s = launch(); }
  MPI_Errhandler eh;
  MPI_Comm_get_errhandler(MPI_COMM_WORLD, &eh);
  EXPECT_EQ(eh, MPI_ERRORS_ARE_FATAL);
  MPI_Errhandler_free(&eh);
}

TEST(ErrorAgreement, ABadSettingOnOneRankFailsEveryRankWithTheSameMessage) {
  const int bad = world_size() - 1;
  EnvMap env;
  if (world_rank() == bad) env["MPINIT_LOG_LEVEL"] = "loud";
  Error e(Errc::internal, "");
  std::string msg = launch_error(with_env(env), &e);
  ASSERT_FALSE(msg.empty()) << "launch succeeded";
  EXPECT_TRUE(same_everywhere(msg)) << msg;
  EXPECT_EQ(e.code(), Errc::invalid_setting);
  EXPECT_EQ(e.phase(), "settings");
  EXPECT_EQ(e.failed_ranks(), std::vector<int>{bad});
  EXPECT_EQ(e.failed_count(), 1);
  EXPECT_NE(msg.find("MPINIT_LOG_LEVEL='loud' is not one of"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank " + std::to_string(bad)), std::string::npos) << msg;
  EXPECT_NE(msg.find(mpitest::hostname()), std::string::npos) << msg;
  EXPECT_NE(msg.find("phase 'settings'"), std::string::npos) << msg;
}

TEST(ErrorAgreement, ManyFailingRanksAreCountedAndTheLowestListed) {
  // Every odd rank has a broken launcher variable; rank 1 (lowest) gives the cause.
  EnvMap env = {{"OMPI_COMM_WORLD_RANK", std::to_string(world_rank())},
                {"OMPI_COMM_WORLD_SIZE", std::to_string(world_size())}};
  if (world_rank() % 2 == 1) env["OMPI_COMM_WORLD_LOCAL_RANK"] = "r" + std::to_string(world_rank());
  Error e(Errc::internal, "");
  std::string msg = launch_error(with_env(env), &e);
  const int odd = world_size() / 2;
  if (odd == 0) {
    EXPECT_EQ(msg, "");
    return;
  }
  EXPECT_TRUE(same_everywhere(msg)) << msg;
  EXPECT_EQ(e.code(), Errc::invalid_environment);
  EXPECT_EQ(e.phase(), "environment");
  EXPECT_EQ(e.failed_count(), odd);
  ASSERT_FALSE(e.failed_ranks().empty());
  EXPECT_EQ(e.failed_ranks()[0], 1);
  EXPECT_EQ(static_cast<int>(e.failed_ranks().size()), std::min(odd, 8));
  EXPECT_NE(msg.find("OMPI_COMM_WORLD_LOCAL_RANK='r1' is not an integer"), std::string::npos) << msg;
}

// Session::agree, the status agreement itself: the failing ranks of a pattern, and what every rank
// must then hold. `fails(r)` says whether rank r fails; its cause names it.
namespace {

void expect_agreement(const Session& s, const std::function<bool(int)>& fails) {
  const int n = world_size(), me = world_rank();
  std::vector<int> failing;
  for (int r = 0; r < n; ++r)
    if (fails(r)) failing.push_back(r);
  const std::string cause = fails(me) ? "cause of rank " + std::to_string(me) : "";
  try {
    s.agree("my phase", cause);
    EXPECT_TRUE(failing.empty()) << "agree() returned, but " << failing.size() << " ranks failed";
    return;
  } catch (const Error& e) {
    ASSERT_FALSE(failing.empty()) << "no rank failed, yet agree() threw: " << e.what();
    const std::string msg = e.what();
    EXPECT_TRUE(same_everywhere(msg)) << msg;
    EXPECT_EQ(e.code(), Errc::application);
    EXPECT_EQ(e.phase(), "my phase");
    EXPECT_EQ(e.failed_count(), static_cast<int>(failing.size()));
    // The lowest 8 failing ranks, in order; the message lists them and counts the rest.
    const std::vector<int> listed(failing.begin(), failing.begin() + std::min<size_t>(failing.size(), 8));
    EXPECT_EQ(e.failed_ranks(), listed);
    std::string list;
    for (size_t k = 0; k < listed.size(); ++k) list += (k ? ", " : "") + std::to_string(listed[k]);
    if (failing.size() > listed.size()) list += " and " + std::to_string(failing.size() - listed.size()) + " more";
    const std::string head = "mpinit: phase 'my phase' failed on " + std::to_string(failing.size()) + " of " +
                             std::to_string(n) + (n == 1 ? " rank" : " ranks") + " (" +
                             (listed.size() == 1 ? "rank " : "ranks ") + list + "): ";
    EXPECT_EQ(msg.rfind(head, 0), 0u) << msg << "\nwanted it to begin with: " << head;
    // The cause is the lowest failing rank's, with its rank and its host (another node's, on
    // several nodes: that rank tells its name).
    std::string host = mpitest::hostname();
    int len = static_cast<int>(host.size());
    MPI_Bcast(&len, 1, MPI_INT, failing[0], MPI_COMM_WORLD);
    host.resize(static_cast<size_t>(len));
    MPI_Bcast(host.data(), len, MPI_CHAR, failing[0], MPI_COMM_WORLD);
    EXPECT_NE(msg.find("cause of rank " + std::to_string(failing[0]) + " (raised by mpinit::launch on rank " +
                       std::to_string(failing[0]) + ", " + host + ")"),
              std::string::npos)
        << msg;
  }
}

}  // namespace

TEST(Agreement, NoRankFailingThrowsNothingEvenManyTimes) {
  auto s = launch();
  for (int i = 0; i < 50; ++i) expect_agreement(s, [](int) { return false; });
}

TEST(Agreement, OneRankFailingIsNamedByEveryRank) {
  auto s = launch();
  const int n = world_size();
  for (int bad : {0, n / 2, n - 1}) expect_agreement(s, [bad](int r) { return r == bad; });
}

TEST(Agreement, EveryRankFailing) {
  auto s = launch();
  expect_agreement(s, [](int) { return true; });
}

TEST(Agreement, ScatteredFailuresAreListedLowestFirst) {
  auto s = launch();
  const int n = world_size();
  expect_agreement(s, [n](int r) { return r % 3 == 1 || r == n - 1; });
  expect_agreement(s, [n](int r) { return r == n - 1 || r == n / 2; });
}

TEST(Agreement, MoreRanksFailThanTheMessageLists) {
  if (world_size() < 9) GTEST_SKIP() << "needs 9 ranks or more (mpi_session_np10_agreement runs it at 10)";
  auto s = launch();
  expect_agreement(s, [](int r) { return r >= 1; });      // 8 listed (1-8) and the rest counted
  expect_agreement(s, [](int) { return true; });          // 0-7 listed
  expect_agreement(s, [](int r) { return r % 2 == 1 || r >= 8; });
}

TEST(Agreement, TheSessionGoesOnAfterAFailedAgreement) {
  auto s = launch();
  expect_agreement(s, [](int r) { return r == 0; });
  expect_agreement(s, [](int) { return false; });
  int one = 1, sum = 0;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, s.comm());
  EXPECT_EQ(sum, world_size());
}

TEST(CrossCheck, AWrongLauncherSizeIsAMismatchOnEveryRank) {
  EnvMap env = {{"OMPI_COMM_WORLD_RANK", std::to_string(world_rank())},
                {"OMPI_COMM_WORLD_SIZE", std::to_string(world_size() + 1)}};
  Error e(Errc::internal, "");
  std::string msg = launch_error(with_env(env), &e);
  EXPECT_EQ(e.code(), Errc::mismatch) << msg;
  EXPECT_EQ(e.phase(), "identity");
  EXPECT_EQ(e.failed_count(), world_size());
  EXPECT_TRUE(same_everywhere(msg)) << msg;
  const std::string want = "OMPI_COMM_WORLD_SIZE=" + std::to_string(world_size() + 1) + " but MPI_Comm_size=" +
                           std::to_string(world_size());
  if (world_size() > 1) {
    EXPECT_NE(msg.find(want), std::string::npos) << msg;
  }
  // With MPINIT_CHECK=warn the job goes on with MPI's values.
  env["MPINIT_CHECK"] = "warn";
  env["MPINIT_LOG_LEVEL"] = "error";  // keep the expected warning out of the test log
  auto s = launch(with_env(env));
  EXPECT_EQ(s.identity().size, world_size());
}

TEST(CrossCheck, SingletonsAreReportedAsSuch) {
  if (world_size() != 1) GTEST_SKIP() << "needs a world of one process";
  EnvMap env = {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"},
                {"SLURM_NODEID", "0"},  {"SLURM_NNODES", "1"}};
  std::string msg = launch_error(with_env(env));
  EXPECT_NE(msg.find("every process is a singleton"), std::string::npos) << msg;
  EXPECT_NE(msg.find("SLURM_NTASKS=4"), std::string::npos) << msg;
}

TEST(CrossCheck, ASubCommunicatorIsNotComparedWithTheWorldsVariables) {
  MPI_Comm self_dup;
  MPI_Comm_dup(MPI_COMM_SELF, &self_dup);
  Options o = with_env({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "1"}});
  o.comm = self_dup;
  auto s = launch(o);
  EXPECT_EQ(s.identity().size, 1);
  MPI_Comm_free(&self_dup);
}

TEST(EnvOnly, IdentityFromTheEnvironmentAlone) {
  Options o = with_env({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "5"},
                        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  o.mode = InitMode::env_only;
  auto s = launch(o);
  EXPECT_FALSE(s.identity().from_mpi);
  EXPECT_EQ(s.identity().rank, 3);
  EXPECT_EQ(s.identity().sources.rank, "OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(s.identity().local_size, 2);
  EXPECT_EQ(s.comm(), MPI_COMM_NULL);
  // A bad value fails locally (no MPI to agree over), naming the variable and the rank.
  o.env = EnvMap{{"OMPI_COMM_WORLD_RANK", "7"}, {"OMPI_COMM_WORLD_SIZE", "x"}};
  std::string msg = launch_error(o);
  EXPECT_NE(msg.find("OMPI_COMM_WORLD_SIZE='x' is not an integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 7"), std::string::npos) << msg;
}
