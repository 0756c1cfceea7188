// Seeds (pure derivation and parsing) and the NCCL bootstrap logic that needs no GPU: root
// assignment and the wait-with-timeout loop, driven by a fake poll and a fake clock.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/nccl.hpp"
#include "mpinit/seed.hpp"
#include "mpinit/settings.hpp"
#include "nccl/wait.hpp"
#include "session/budget.hpp"
#include "session/state.hpp"
#include "seed/mix.hpp"

using namespace mpinit;
using mpinit::detail::mix64;
using mpinit::detail::nccl_roots;

TEST(Seed, DerivationIsDeterministicAndDependsOnEveryInput) {
  EXPECT_EQ(derive_seed(1024, 3), derive_seed(1024, 3));
  EXPECT_EQ(derive_seed(1024, 3, "data"), derive_seed(1024, 3, "data"));
  EXPECT_NE(derive_seed(1024, 3), derive_seed(1025, 3));
  EXPECT_NE(derive_seed(1024, 3), derive_seed(1024, 4));
  EXPECT_NE(derive_seed(1024, 3, "data"), derive_seed(1024, 3, "dropout"));
  EXPECT_NE(derive_seed(1024, 3, ""), derive_seed(1024, 3, "data"));
  // Pinned values: the same seeds on every run, on every machine, in every release.
  EXPECT_EQ(mix64(0), 0xe220a8397b1dcdafull);
  EXPECT_EQ(derive_seed(1024, 0), 0xad20b0beaf102696ull);
  EXPECT_EQ(derive_seed(1024, 1, "data"), 0xcaf81d39bf53435dull);
}

TEST(Seed, NoCollisionsOverThousandsOfRanksAndStreams) {
  // `seed + rank` would collide here at once: rank r+1's seed is rank r's for the next global seed.
  const std::vector<std::string> streams = {"", "data", "dropout", "init", "augment", "sampler"};
  std::set<std::uint64_t> seen;
  size_t n = 0;
  for (std::uint64_t global : {0ull, 1ull, 1024ull, 1025ull}) {
    for (int rank = 0; rank < 4096; ++rank) {
      for (const auto& s : streams) {
        seen.insert(derive_seed(global, rank, s));
        ++n;
      }
    }
  }
  EXPECT_EQ(seen.size(), n);  // 98304 seeds, all distinct
}

TEST(Seed, MixingAvalanches) {
  // Flipping one input bit flips about half of the output bits.
  int total = 0;
  for (int bit = 0; bit < 64; ++bit) total += __builtin_popcountll(mix64(12345) ^ mix64(12345 ^ (1ull << bit)));
  EXPECT_GT(total / 64.0, 24.0);
  EXPECT_LT(total / 64.0, 40.0);
}

TEST(Seed, ParseAcceptsNumbersAndRandom) {
  EXPECT_FALSE(parse_seed("S", "0").random);
  EXPECT_EQ(parse_seed("S", "0").value, 0u);
  EXPECT_EQ(parse_seed("S", "18446744073709551615").value, 18446744073709551615ull);
  EXPECT_TRUE(parse_seed("S", "random").random);
}

TEST(Seed, ParseRejectsWithVariableValueAndRule) {
  for (const char* bad : {"", "-1", "12x", " 7", "1e3", "RANDOM", "18446744073709551616"}) {
    try {
      parse_seed("MPINIT_SEED", bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_setting);
      EXPECT_NE(std::string(e.what()).find("MPINIT_SEED='" + std::string(bad) + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("2^64-1"), std::string::npos) << e.what();
    }
  }
}

TEST(Seed, SettingsReadMpinitSeedAndOptionWins) {
  auto s = resolve_settings({}, {});
  EXPECT_EQ(s.seed.value.value, kDefaultSeed);
  EXPECT_EQ(s.seed.source, "default");
  s = resolve_settings({}, {{"MPINIT_SEED", "77"}});
  EXPECT_EQ(s.seed.value.value, 77u);
  EXPECT_EQ(s.seed.source, "MPINIT_SEED");
  Overrides o;
  o.seed = SeedSetting{false, 5};
  s = resolve_settings(o, {{"MPINIT_SEED", "random"}});
  EXPECT_FALSE(s.seed.value.random);
  EXPECT_EQ(s.seed.value.value, 5u);
  EXPECT_EQ(s.seed.source, "option");
}

TEST(NcclSettings, ModesTimeoutAndRanksPerRoot) {
  auto s = resolve_settings({}, {});
  EXPECT_EQ(s.nccl.value, NcclMode::lazy);
  EXPECT_EQ(s.nccl_timeout_s.value, 300);
  EXPECT_EQ(s.nccl_ranks_per_root.value, 128);
  s = resolve_settings({}, {{"MPINIT_NCCL", "launch"}, {"MPINIT_NCCL_TIMEOUT", "5"}, {"MPINIT_NCCL_RANKS_PER_ROOT", "2"}});
  EXPECT_EQ(s.nccl.value, NcclMode::launch);
  EXPECT_EQ(s.nccl_timeout_s.value, 5);
  EXPECT_EQ(s.nccl_ranks_per_root.value, 2);
  struct Case {
    const char* var;
    const char* value;
  };
  for (auto c : {Case{"MPINIT_NCCL", "eager"}, Case{"MPINIT_NCCL_TIMEOUT", "0"}, Case{"MPINIT_NCCL_TIMEOUT", "5s"},
                 Case{"MPINIT_NCCL_RANKS_PER_ROOT", "0"}, Case{"MPINIT_NCCL_RANKS_PER_ROOT", "-4"}}) {
    try {
      resolve_settings({}, {{c.var, c.value}});
      ADD_FAILURE() << c.var << " accepted '" << c.value << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(c.var) + "='" + c.value + "'"), std::string::npos) << e.what();
    }
  }
}

TEST(NcclRoots, OneRootUpToTheThreshold) {
  EXPECT_EQ(nccl_roots(1, 128), std::vector<int>{0});
  EXPECT_EQ(nccl_roots(100, 128), std::vector<int>{0});
  EXPECT_EQ(nccl_roots(128, 128), std::vector<int>{0});
}

TEST(NcclRoots, SeveralRootsSpreadOut) {
  EXPECT_EQ(nccl_roots(129, 128), (std::vector<int>{0, 64}));
  EXPECT_EQ(nccl_roots(256, 128), (std::vector<int>{0, 128}));
  EXPECT_EQ(nccl_roots(5, 2), (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(nccl_roots(4, 1), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(nccl_roots(100000, 128).size(), 782u);
}

TEST(NcclRoots, InvariantsOverManySizes) {
  for (int rpp : {1, 2, 3, 7, 64, 128}) {
    for (int n = 1; n <= 1000; n += 1 + n / 10) {
      auto roots = nccl_roots(n, rpp);
      ASSERT_EQ(roots.size(), static_cast<size_t>((n + rpp - 1) / rpp)) << n << " " << rpp;
      EXPECT_EQ(roots.front(), 0);
      for (size_t i = 1; i < roots.size(); ++i) EXPECT_GT(roots[i], roots[i - 1]);
      EXPECT_LT(roots.back(), n);
      // Each root's block (up to the next root) holds at most ranks_per_root ranks.
      for (size_t i = 0; i < roots.size(); ++i) {
        int end = i + 1 < roots.size() ? roots[i + 1] : n;
        EXPECT_LE(end - roots[i], rpp) << n << " " << rpp;
      }
    }
  }
}

TEST(NcclRoots, RejectsBadCounts) {
  EXPECT_THROW(nccl_roots(10, 0), Error);
  EXPECT_THROW(nccl_roots(0, 128), Error);
  try {
    nccl_roots(10, -3);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_setting);
    EXPECT_NE(std::string(e.what()).find("-3"), std::string::npos);
  }
}

// The fake NCCL: a scripted sequence of poll results and a clock that moves one second per pause.
namespace {
constexpr int kSuccess = 0, kInProgress = 7, kFailure = 3;

struct FakeNccl {
  std::vector<int> script;  // results of successive polls; the last repeats
  size_t polls = 0;
  double clock = 0;
  int pauses = 0;
  detail::WaitResult wait(double timeout_s, int* last) {
    return detail::wait_for([&] { return script[std::min(polls++, script.size() - 1)]; }, kSuccess, kInProgress,
                            timeout_s, [&] { return clock; },
                            [&] {
                              ++pauses;
                              clock += 1;
                            },
                            last);
  }
};
}  // namespace

TEST(FakeNcclWait, ReadyAfterSomePolls) {
  FakeNccl f{{kInProgress, kInProgress, kSuccess}};
  int last = -1;
  EXPECT_EQ(f.wait(10, &last), detail::WaitResult::ready);
  EXPECT_EQ(last, kSuccess);
  EXPECT_EQ(f.polls, 3u);
  EXPECT_EQ(f.pauses, 2);
}

TEST(FakeNcclWait, FailureIsReportedWithItsCode) {
  FakeNccl f{{kInProgress, kFailure}};
  int last = -1;
  EXPECT_EQ(f.wait(10, &last), detail::WaitResult::failed);
  EXPECT_EQ(last, kFailure);
}

TEST(FakeNcclWait, TimesOutWhenNeverReady) {
  FakeNccl f{{kInProgress}};
  int last = -1;
  EXPECT_EQ(f.wait(5, &last), detail::WaitResult::timed_out);
  EXPECT_EQ(last, kInProgress);
  EXPECT_EQ(f.clock, 5);  // gave up exactly at the timeout, not before, not much later
}

TEST(FakeNcclWait, ReadyAtOnceNeedsNoPause) {
  FakeNccl f{{kSuccess}};
  EXPECT_EQ(f.wait(0, nullptr), detail::WaitResult::ready);
  EXPECT_EQ(f.pauses, 0);
}

// The teardown decision of ~NcclComm, with a fake NCCL: a scripted state per poll (the last
// repeats), a counted ncclCommFinalize, a clock that moves one second per pause.
namespace {
struct FakeNcclTeardown {
  std::vector<int> states;
  int finalize_rc = kSuccess;
  size_t polls = 0;
  int finalizes = 0;
  size_t polls_before_finalize = 0;
  double clock = 0;
  detail::Teardown run(double timeout_s) {
    return detail::teardown([&] { return states[std::min(polls++, states.size() - 1)]; },
                            [&] {
                              ++finalizes;
                              polls_before_finalize = polls;
                              return finalize_rc;
                            },
                            kSuccess, kInProgress, timeout_s, [&] { return clock; }, [&] { clock += 1; });
  }
};
}  // namespace

TEST(FakeNcclTeardown, NonBlockingFinalizeInProgressThenQuiescentIsDestroyed) {
  // The normal end of a non-blocking communicator: finalize says in progress, then it quiesces.
  // (The old destructor tested the state read before finalize and aborted here.)
  FakeNcclTeardown f{{kSuccess, kInProgress, kInProgress, kSuccess}, kInProgress};
  EXPECT_EQ(f.run(10), detail::Teardown::destroy);
  EXPECT_EQ(f.finalizes, 1);
  EXPECT_EQ(f.polls, 4u);
}

TEST(FakeNcclTeardown, BlockingFinalizeIsDestroyed) {
  FakeNcclTeardown f{{kSuccess}, kSuccess};
  EXPECT_EQ(f.run(10), detail::Teardown::destroy);
  EXPECT_EQ(f.finalizes, 1);
}

TEST(FakeNcclTeardown, AnOperationInProgressIsWaitedForBeforeFinalizing) {
  FakeNcclTeardown f{{kInProgress, kInProgress, kSuccess}, kSuccess};
  EXPECT_EQ(f.run(10), detail::Teardown::destroy);
  EXPECT_EQ(f.polls_before_finalize, 3u);  // finalize only once the state was success
}

TEST(FakeNcclTeardown, ABrokenCommunicatorIsAbortedWithoutFinalizing) {
  FakeNcclTeardown f{{kFailure}, kSuccess};
  EXPECT_EQ(f.run(10), detail::Teardown::abort);
  EXPECT_EQ(f.finalizes, 0);
}

TEST(FakeNcclTeardown, AFailedFinalizeIsAborted) {
  FakeNcclTeardown f{{kSuccess}, kFailure};
  EXPECT_EQ(f.run(10), detail::Teardown::abort);
  EXPECT_EQ(f.finalizes, 1);
}

TEST(FakeNcclTeardown, AnErrorWhileFlushingIsAborted) {
  FakeNcclTeardown f{{kSuccess, kInProgress, kFailure}, kInProgress};
  EXPECT_EQ(f.run(10), detail::Teardown::abort);
}

TEST(FakeNcclTeardown, AFinalizeThatNeverQuiescesIsAbortedAtTheTimeout) {
  FakeNcclTeardown f{{kSuccess, kInProgress}, kInProgress};
  EXPECT_EQ(f.run(5), detail::Teardown::abort);
  EXPECT_EQ(f.clock, 5);  // one budget for both waits: not 5 s each
}

TEST(FakeNcclTeardown, OneBudgetCoversTheWaitBeforeAndAfterFinalize) {
  // 3 s waiting for an earlier operation leave 2 s of a 5 s budget for the finalize.
  FakeNcclTeardown f{{kInProgress, kInProgress, kInProgress, kSuccess, kInProgress}, kInProgress};
  EXPECT_EQ(f.run(5), detail::Teardown::abort);
  EXPECT_EQ(f.finalizes, 1);
  EXPECT_EQ(f.clock, 5);
}

// Moving NcclComm handles (empty ones: no NCCL call is made; the gpu suite moves live ones).
TEST(NcclCommMove, MoveAssignmentTakesTheHandleAndEmptiesTheSource) {
  NcclComm a;
  NcclComm b(nullptr, 3, 4);
  a = std::move(b);
  EXPECT_EQ(a.rank(), 3);
  EXPECT_EQ(a.size(), 4);
  EXPECT_FALSE(b);
  EXPECT_EQ(b.rank(), -1);
  EXPECT_EQ(b.size(), 0);
  NcclComm c(std::move(a));
  EXPECT_EQ(c.rank(), 3);
  EXPECT_EQ(a.rank(), -1);
  NcclComm& self = c;
  c = std::move(self);  // self-assignment keeps it
  EXPECT_EQ(c.rank(), 3);
  EXPECT_EQ(c.size(), 4);
  c.wait(0);  // an empty communicator has nothing in progress
}

// One budget (lib/session/budget.hpp): NCCL's wait inside launch() ends before the launch
// watchdog's deadline, so a stuck init is aborted and agreed on instead of killed.
namespace {
using detail::BudgetClock;
BudgetClock::time_point at(double s) {
  return BudgetClock::time_point{} + std::chrono::duration_cast<BudgetClock::duration>(std::chrono::duration<double>(s));
}
double secs(BudgetClock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }
}  // namespace

TEST(NcclBudget, DefaultsLeaveTheNcclWaitWhatIsLeftOfTheLaunchBudget) {
  // Both 300 s: NCCL starting 10 s into launch() may wait until 300 - 15 s, not 300 s more.
  const auto deadline = detail::nccl_deadline(at(1000), 300);
  EXPECT_DOUBLE_EQ(secs(deadline), 1000 + 285);
  const auto w = detail::nccl_wait_budget(at(1010), deadline, 300);
  EXPECT_TRUE(w.by_launch);
  EXPECT_DOUBLE_EQ(w.seconds, 275);
}

TEST(NcclBudget, AShorterNcclTimeoutIsKept) {
  const auto w = detail::nccl_wait_budget(at(1010), detail::nccl_deadline(at(1000), 300), 20);
  EXPECT_FALSE(w.by_launch);
  EXPECT_DOUBLE_EQ(w.seconds, 20);
}

TEST(NcclBudget, NoLaunchBudgetLeavesTheNcclTimeout) {
  EXPECT_EQ(detail::nccl_deadline(at(1000), 0), BudgetClock::time_point::max());
  const auto w = detail::nccl_wait_budget(at(5000), detail::nccl_deadline(at(1000), 0), 300);
  EXPECT_FALSE(w.by_launch);
  EXPECT_DOUBLE_EQ(w.seconds, 300);
}

TEST(NcclBudget, PastTheDeadlineTheWaitIsZeroNotNegative) {
  const auto w = detail::nccl_wait_budget(at(1299), detail::nccl_deadline(at(1000), 300), 300);
  EXPECT_TRUE(w.by_launch);
  EXPECT_EQ(w.seconds, 0);
  FakeNccl f{{kInProgress}};  // polled once, then given up: the ranks go on to agree on it
  EXPECT_EQ(f.wait(w.seconds, nullptr), detail::WaitResult::timed_out);
  EXPECT_EQ(f.polls, 1u);
}

TEST(NcclBudget, MarginIsAQuarterUpTo15Seconds) {
  EXPECT_EQ(detail::nccl_margin(300).count(), 15000);
  EXPECT_EQ(detail::nccl_margin(60).count(), 15000);
  EXPECT_EQ(detail::nccl_margin(20).count(), 5000);
  EXPECT_EQ(detail::nccl_margin(1).count(), 250);
}

TEST(NcclBudget, AStuckInitTimesOutBeforeTheWatchdogOverEveryBudget) {
  // A fake NCCL that never gets ready, started at any point of any launch budget: its wait
  // (with the fake clock) ends at least the margin before the watchdog's deadline, and never
  // later than MPINIT_NCCL_TIMEOUT.
  for (int t : {1, 2, 3, 5, 8, 20, 60, 300, 3600, 86400})
    for (double started : {0.0, 0.1, 0.5, 0.9})
      for (double nccl : {1.0, 20.0, 300.0, 86400.0}) {
        const double t0 = 1000, now = t0 + started * t;
        const auto w = detail::nccl_wait_budget(at(now), detail::nccl_deadline(at(t0), t), nccl);
        FakeNccl f{{kInProgress}};
        f.clock = now;
        ASSERT_EQ(f.wait(w.seconds, nullptr), detail::WaitResult::timed_out);
        const double ended = std::max(f.clock, now);  // the fake clock moves a whole second per pause
        SCOPED_TRACE("t=" + std::to_string(t) + " started=" + std::to_string(started) + " nccl=" + std::to_string(nccl));
        EXPECT_LE(w.seconds, nccl);
        EXPECT_LE(now + w.seconds, std::max(now, t0 + t - detail::nccl_margin(t).count() / 1000.0) + 1e-6);
        EXPECT_LE(ended, std::max(now, t0 + t - detail::nccl_margin(t).count() / 1000.0) + 1);
        EXPECT_GT(t0 + t, now + w.seconds);  // the watchdog is still to come
      }
}

TEST(NcclBudget, LaunchDrawsNcclsWaitFromTheLaunchBudgetAndSaysSo) {
  // What launch() hands to nccl_comm_for under MPINIT_NCCL=launch; Session::nccl() and
  // nccl_for() later keep MPINIT_NCCL_TIMEOUT (nccl_options()).
  Session::State st;
  st.settings = resolve_settings({}, {{"MPINIT_LAUNCH_TIMEOUT", "20"}, {"MPINIT_NCCL_TIMEOUT", "300"}});
  const NcclOptions o = st.launch_nccl_options(st.start + std::chrono::seconds(3));
  EXPECT_DOUBLE_EQ(o.timeout_s, 20 - 5 - 3);
  EXPECT_EQ(o.timeout_setting,
            "what was left of MPINIT_LAUNCH_TIMEOUT=20 s for launch(), less 5 s kept for the abort and the "
            "agreement; MPINIT_NCCL_TIMEOUT=300 s is longer");
  EXPECT_DOUBLE_EQ(st.nccl_options().timeout_s, 300);
  EXPECT_EQ(st.nccl_options().timeout_setting, "MPINIT_NCCL_TIMEOUT=300 s");

  st.settings = resolve_settings({}, {{"MPINIT_NCCL_TIMEOUT", "30"}});  // the launch default: 300 s
  const NcclOptions d = st.launch_nccl_options(st.start + std::chrono::seconds(3));
  EXPECT_DOUBLE_EQ(d.timeout_s, 30);
  EXPECT_EQ(d.timeout_setting, "MPINIT_NCCL_TIMEOUT=30 s");
  st.settings = resolve_settings({}, {{"MPINIT_LAUNCH_TIMEOUT", "0"}});
  EXPECT_DOUBLE_EQ(st.launch_nccl_options(st.start + std::chrono::hours(10)).timeout_s, 300);
  EXPECT_EQ(st.launch_nccl_options(st.start).timeout_setting, "MPINIT_NCCL_TIMEOUT=300 s (the default)");
}
