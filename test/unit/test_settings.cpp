// Settings precedence and strict parsing; identity from the environment; the log prefix.
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/system.hpp"
#include "mpinit/env.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/log.hpp"
#include "mpinit/settings.hpp"

using namespace mpinit;

TEST(Settings, Defaults) {
  auto s = resolve_settings({}, {});
  EXPECT_EQ(s.mode.value, InitMode::own_if_needed);
  EXPECT_EQ(s.mode.source, "default");
  EXPECT_EQ(s.thread_level.value, ThreadLevel::funneled);
  EXPECT_EQ(s.log_level.value, LogLevel::warn);
  EXPECT_FALSE(s.log_all_ranks.value);
  EXPECT_EQ(s.check.value, CheckLevel::error);
  EXPECT_TRUE(s.warnings.empty());
}

TEST(Settings, EnvironmentOverridesDefaultOptionOverridesEnvironment) {
  EnvMap env = {{"MPINIT_LOG_LEVEL", "DEBUG"}, {"MPINIT_CHECK", "warn"}, {"MPINIT_THREAD_LEVEL", "multiple"},
                {"MPINIT_MODE", "env_only"},   {"MPINIT_LOG_RANKS", "all"}};
  auto s = resolve_settings({}, env);
  EXPECT_EQ(s.log_level.value, LogLevel::debug);
  EXPECT_EQ(s.log_level.source, "MPINIT_LOG_LEVEL");
  EXPECT_EQ(s.check.value, CheckLevel::warn);
  EXPECT_EQ(s.thread_level.value, ThreadLevel::multiple);
  EXPECT_EQ(s.mode.value, InitMode::env_only);
  EXPECT_TRUE(s.log_all_ranks.value);

  Overrides o;
  o.log_level = LogLevel::error;
  o.check = CheckLevel::off;
  o.log_all_ranks = false;
  auto t = resolve_settings(o, env);
  EXPECT_EQ(t.log_level.value, LogLevel::error);
  EXPECT_EQ(t.log_level.source, "option");
  EXPECT_EQ(t.check.value, CheckLevel::off);
  EXPECT_FALSE(t.log_all_ranks.value);
  EXPECT_EQ(t.log_all_ranks.source, "option");
  EXPECT_EQ(t.mode.source, "MPINIT_MODE");  // not overridden: still from the environment
}

TEST(Settings, BadValuesNameVariableValueAndChoices) {
  struct Case {
    const char* var;
    const char* value;
    const char* rule;
  };
  for (auto c : {Case{"MPINIT_LOG_LEVEL", "loud", "none|error|warn|info|debug|trace"},
                 Case{"MPINIT_CHECK", "strict", "off|warn|error"},
                 Case{"MPINIT_THREAD_LEVEL", "3", "single|funneled|serialized|multiple"},
                 Case{"MPINIT_MODE", "", "own|adopt|own_if_needed|env_only"},
                 Case{"MPINIT_LOG_RANKS", "1", "root|all"}}) {
    try {
      resolve_settings({}, {{c.var, c.value}});
      ADD_FAILURE() << c.var << " accepted '" << c.value << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_setting);
      EXPECT_EQ(std::string(e.what()), std::string(c.var) + "='" + c.value + "' is not one of " + c.rule);
    }
  }
}

TEST(Settings, AnOptionHidesABadVariable) {
  Overrides o;
  o.log_level = LogLevel::info;
  EXPECT_NO_THROW(resolve_settings(o, {{"MPINIT_LOG_LEVEL", "loud"}}));
}

TEST(Settings, UnknownVariableIsAWarning) {
  auto s = resolve_settings({}, {{"MPINIT_LOG_LEVLE", "debug"}, {"MPINITX", "1"}});
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("MPINIT_LOG_LEVLE"), std::string::npos);
}

TEST(Settings, DescribeListsEverySettingWithItsSource) {
  auto rows = describe(resolve_settings({}, {{"MPINIT_CHECK", "off"}}));
  ASSERT_EQ(rows.size(), setting_table().size());
  ASSERT_EQ(rows.size(), 21u);
  EXPECT_EQ(rows[4].name, "check");
  EXPECT_EQ(rows[4].value, "off");
  EXPECT_EQ(rows[4].source, "MPINIT_CHECK");
}

TEST(IdentityFromEnv, NoLauncherIsASingleton) {
  auto id = identity_from_env(parse_launch_env({}), "h");
  EXPECT_EQ(id.rank, 0);
  EXPECT_EQ(id.size, 1);
  EXPECT_EQ(id.local_size, 1);
  EXPECT_EQ(id.node_count, 1);
  EXPECT_EQ(id.sources.rank, "default (no launcher)");
  EXPECT_FALSE(id.from_mpi);
  EXPECT_EQ(id.host, "h");
}

TEST(IdentityFromEnv, UnknownStaysUnknown) {
  auto id = identity_from_env(parse_launch_env({{"PMIX_RANK", "3"}}), "h");
  EXPECT_EQ(id.rank, 3);
  EXPECT_EQ(id.size, -1);
  EXPECT_EQ(id.sources.size, "unknown");
  EXPECT_EQ(id.node_rank, -1);
}

TEST(IdentityFromEnv, OneNodeFillsNodeAndLocal) {
  auto id = identity_from_env(parse_launch_env({{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"GROUP_WORLD_SIZE", "1"}}), "h");
  EXPECT_EQ(id.node_rank, 0);
  EXPECT_EQ(id.local_rank, 2);
  EXPECT_EQ(id.local_size, 3);
  EXPECT_EQ(id.sources.local_size, "WORLD_SIZE (one node)");
}

TEST(IdentityFromEnv, SlurmStep) {
  EnvMap env = {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "3"}, {"SLURM_LOCALID", "0"},
                {"SLURM_NODEID", "1"},  {"SLURM_NNODES", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2,1"}};
  auto id = identity_from_env(parse_launch_env(env), "n2");
  EXPECT_EQ(id.launcher, Launcher::slurm);
  EXPECT_EQ(id.rank, 2);
  EXPECT_EQ(id.local_size, 1);
  EXPECT_EQ(id.node_rank, 1);
  EXPECT_EQ(id.sources.node_rank, "SLURM_NODEID");
}

TEST(Logger, PrefixAndRankFilter) {
  Logger log(LogLevel::info, false);
  EXPECT_TRUE(log.enabled(LogLevel::info));  // rank not known yet: printed
  log.set_rank(3, 1);
  EXPECT_EQ(log.prefix(LogLevel::warn),
            detail::hostname() + ":" + std::to_string(getpid()) + " [rank 3/1] mpinit WARN ");
  EXPECT_TRUE(log.enabled(LogLevel::warn));    // warnings on every rank
  EXPECT_FALSE(log.enabled(LogLevel::info));   // INFO on rank 0 only
  EXPECT_FALSE(log.enabled(LogLevel::debug));  // above the level
  Logger all(LogLevel::debug, true);
  all.set_rank(3, 1);
  EXPECT_TRUE(all.enabled(LogLevel::debug));
  EXPECT_FALSE(all.enabled(LogLevel::trace));
  Logger none(LogLevel::none, true);
  EXPECT_FALSE(none.enabled(LogLevel::error));
}

namespace {
// An argv the test owns: take_flags rewrites it in place.
struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  int argc;
  char** argv;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    for (auto& x : words) ptrs.push_back(x.data());
    ptrs.push_back(nullptr);
    argc = static_cast<int>(words.size());
    argv = ptrs.data();
  }
  std::vector<std::string> left() const { return {argv, argv + argc}; }
};
}  // namespace

TEST(Flags, TakenOutOfArgvInBothSpellings) {
  Argv a({"prog", "--mpinit-seed=7", "input.txt", "--mpinit-log-level", "debug", "--mpinit-nccl-timeout=9", "-v",
          "--mpinitx", "--other"});
  Flags f = take_flags(&a.argc, &a.argv);
  EXPECT_EQ(a.left(), (std::vector<std::string>{"prog", "input.txt", "-v", "--mpinitx", "--other"}));
  EXPECT_EQ(a.argv[a.argc], nullptr);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].var, "MPINIT_SEED");
  EXPECT_EQ(f[0].spelling, "--mpinit-seed");
  EXPECT_EQ(f[0].value, "7");
  EXPECT_EQ(f[1].var, "MPINIT_LOG_LEVEL");
  EXPECT_EQ(f[1].value, "debug");
  EXPECT_EQ(f[2].var, "MPINIT_NCCL_TIMEOUT");
}

TEST(Flags, AFlagWithoutValueIsAnErrorAndArgvIsUntouched) {
  Argv a({"prog", "x", "--mpinit-seed"});
  try {
    take_flags(&a.argc, &a.argv);
    ADD_FAILURE() << "accepted a flag without a value";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the flag --mpinit-seed needs a value"), std::string::npos) << e.what();
  }
  EXPECT_EQ(a.left(), (std::vector<std::string>{"prog", "x", "--mpinit-seed"}));
  EXPECT_TRUE(take_flags(nullptr, nullptr).empty());
}

TEST(Flags, PrecedenceOptionThenFlagThenEnvironment) {
  EnvMap env = {{"MPINIT_SEED", "1"}, {"MPINIT_LOG_LEVEL", "info"}, {"MPINIT_CHECK", "warn"}};
  Flags flags = {{"MPINIT_SEED", "--mpinit-seed", "2"}, {"MPINIT_LOG_LEVEL", "--mpinit-log-level", "debug"},
                 {"MPINIT_LOG_LEVEL", "--mpinit-log-level", "error"}};
  Overrides o;
  o.seed = SeedSetting{false, 3};
  auto s = resolve_settings(o, env, flags);
  EXPECT_EQ(s.seed.value.value, 3u);
  EXPECT_EQ(s.seed.source, "option");
  EXPECT_EQ(s.log_level.value, LogLevel::error);  // the last flag wins
  EXPECT_EQ(s.log_level.source, "--mpinit-log-level");
  EXPECT_EQ(s.check.value, CheckLevel::warn);
  EXPECT_EQ(s.check.source, "MPINIT_CHECK");
  s = resolve_settings({}, env, flags);
  EXPECT_EQ(s.seed.value.value, 2u);
  EXPECT_EQ(s.seed.source, "--mpinit-seed");
}

TEST(Flags, ABadFlagIsNamedAsTheFlagAndUnknownFlagsWarn) {
  try {
    resolve_settings({}, {}, {{"MPINIT_GPU_POLICY", "--mpinit-gpu-policy", "round-robin"}});
    ADD_FAILURE() << "accepted a bad policy";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--mpinit-gpu-policy='round-robin' is not one of spread|exclusive|split|none"),
              std::string::npos)
        << e.what();
  }
  auto s = resolve_settings({}, {{"MPINIT_RANK_SEED", "5"}}, {{"MPINIT_SEEED", "--mpinit-seeed", "1"}});
  ASSERT_EQ(s.warnings.size(), 1u);  // MPINIT_RANK_SEED is written by `mpinit exec`, not a typo
  EXPECT_EQ(s.warnings[0], "the flag --mpinit-seeed is not a setting mpinit knows (a typo?); ignored");
}

TEST(Settings, LaunchTimeoutDefaultsTo300AndZeroWaitsForever) {
  auto d = resolve_settings({}, {});
  EXPECT_EQ(d.launch_timeout_s.value, 300);
  EXPECT_EQ(d.launch_timeout_s.source, "default");
  auto z = resolve_settings({}, {{"MPINIT_LAUNCH_TIMEOUT", "0"}});
  EXPECT_EQ(z.launch_timeout_s.value, 0);
  EXPECT_EQ(z.launch_timeout_s.source, "MPINIT_LAUNCH_TIMEOUT");
  for (const char* bad : {"-1", "30s", "", "86401"}) {
    try {
      resolve_settings({}, {{"MPINIT_LAUNCH_TIMEOUT", bad}});
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_setting);
      EXPECT_NE(std::string(e.what()).find(std::string("MPINIT_LAUNCH_TIMEOUT='") + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

TEST(Settings, OptionValuesObeyTheVariablesRules) {
  Overrides o;
  o.launch_timeout_s = -5;
  try {
    resolve_settings(o, {});
    ADD_FAILURE() << "accepted launch_timeout_s=-5";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Options::launch_timeout_s='-5' is negative (must be >= 0)");
  }
  o = {};
  o.nccl_timeout_s = 0;
  EXPECT_THROW(resolve_settings(o, {}), Error);
  o.nccl_timeout_s = 60;
  EXPECT_EQ(resolve_settings(o, {}).nccl_timeout_s.value, 60);
}
