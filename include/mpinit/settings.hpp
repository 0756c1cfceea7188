// Settings: each one optional at every level, resolved with a fixed precedence and its source kept.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mpinit/env.hpp"
#include "mpinit/seed.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v1 {

/// How launch() treats MPI.
enum class InitMode {
  own,            ///< initialize MPI (error if already initialized); finalize it at the end
  adopt,          ///< use an MPI the caller initialized (error if not); never finalize it
  own_if_needed,  ///< adopt when MPI is initialized, else own (the default)
  env_only,       ///< no MPI at all: identity from the launcher environment alone
};

enum class ThreadLevel { single, funneled, serialized, multiple };
enum class LogLevel { none, error, warn, info, debug, trace };
/// What a disagreement between MPI and the launcher environment does.
enum class CheckLevel { off, warn, error };
/// When the session's NCCL communicator is made.
enum class NcclMode {
  off,     ///< never (Session::nccl() throws)
  lazy,    ///< on the first Session::nccl() call, collectively (the default)
  launch,  ///< during launch(), as its last phase
};

const char* to_string(InitMode) noexcept;
const char* to_string(ThreadLevel) noexcept;
const char* to_string(LogLevel) noexcept;
const char* to_string(CheckLevel) noexcept;
const char* to_string(NcclMode) noexcept;

/// Explicit settings given in code. Unset fields fall through to MPINIT_* variables, then defaults.
struct Overrides {
  std::optional<InitMode> mode;
  std::optional<ThreadLevel> thread_level;
  std::optional<LogLevel> log_level;
  std::optional<bool> log_all_ranks;
  std::optional<CheckLevel> check;
  std::optional<bool> placement;
  std::optional<std::string> topology_file;
  std::optional<GpuPolicy> gpu_policy;
  std::optional<bool> bind;
  std::optional<bool> membind;
  std::optional<bool> oversubscribe;
  std::optional<bool> export_net;
  std::optional<SeedSetting> seed;
  std::optional<NcclMode> nccl;
  std::optional<int> nccl_timeout_s;
  std::optional<int> nccl_ranks_per_root;
  std::optional<int> launch_timeout_s;
};

/// Resolved settings; each value's source is "option", the MPINIT_* variable, or "default".
struct Settings {
  Sourced<InitMode> mode{InitMode::own_if_needed, "default"};          ///< MPINIT_MODE
  Sourced<ThreadLevel> thread_level{ThreadLevel::funneled, "default"};  ///< MPINIT_THREAD_LEVEL
  Sourced<LogLevel> log_level{LogLevel::warn, "default"};               ///< MPINIT_LOG_LEVEL
  Sourced<bool> log_all_ranks{false, "default"};                        ///< MPINIT_LOG_RANKS=all|root
  Sourced<CheckLevel> check{CheckLevel::error, "default"};              ///< MPINIT_CHECK
  /// Plan (and apply) GPU/NIC/CPU placement; on by default when built with hwloc.
  Sourced<bool> placement{true, "default"};                             ///< MPINIT_PLACEMENT=on|off
  /// An hwloc XML file to plan for instead of discovering this machine (plans are then not applied).
  Sourced<std::string> topology_file{"", "default"};                    ///< MPINIT_TOPOLOGY
  Sourced<GpuPolicy> gpu_policy{GpuPolicy::spread, "default"};          ///< MPINIT_GPU_POLICY
  Sourced<bool> bind{true, "default"};                                  ///< MPINIT_BIND=on|off
  Sourced<bool> membind{true, "default"};                               ///< MPINIT_MEMBIND=on|off
  /// More local ranks than allowed cores: share cores (on) or fail (off).
  Sourced<bool> oversubscribe{true, "default"};                         ///< MPINIT_OVERSUBSCRIBE=on|off
  /// Export the planned NIC to the communication libraries (NCCL_IB_HCA or NCCL_SOCKET_IFNAME,
  /// UCX_NET_DEVICES) unless the user set them; off by default.
  Sourced<bool> export_net{false, "default"};                           ///< MPINIT_EXPORT_NET=on|off
  /// The global seed (rank 0's is used by every rank), or random (rank 0 draws it).
  Sourced<SeedSetting> seed{SeedSetting{}, "default"};                  ///< MPINIT_SEED=N|random
  Sourced<NcclMode> nccl{NcclMode::lazy, "default"};                    ///< MPINIT_NCCL=off|lazy|launch
  Sourced<int> nccl_timeout_s{300, "default"};                          ///< MPINIT_NCCL_TIMEOUT (seconds)
  Sourced<int> nccl_ranks_per_root{128, "default"};                     ///< MPINIT_NCCL_RANKS_PER_ROOT
  /// Seconds launch() may take on this rank before it gives up waiting for the others (a rank
  /// slow to start, stopped, or gone), says so, and ends the process with status 124; 0 waits
  /// forever. It covers MPI_Init and MPINIT_NCCL=launch too.
  Sourced<int> launch_timeout_s{300, "default"};                        ///< MPINIT_LAUNCH_TIMEOUT
  /// Remarks found while resolving (an unknown MPINIT_* variable, most likely a typo).
  std::vector<std::string> warnings;
};

/// Every MPINIT_* variable mpinit reads.
const std::vector<std::string>& known_variables();

/// A setting given on the command line: `--mpinit-NAME=VALUE` or `--mpinit-NAME VALUE` stands
/// for MPINIT_NAME (dashes for underscores, any case): `--mpinit-seed 7`, `--mpinit-log-level=debug`.
struct Flag {
  std::string var;       ///< "MPINIT_SEED"
  std::string spelling;  ///< "--mpinit-seed", the source named in reports and errors
  std::string value;
};
using Flags = std::vector<Flag>;

/// Remove every `--mpinit-...` flag from argv (argc adjusted, argv[argc] = nullptr; argv[0]
/// is never a flag) and return them in order. Throws Error(invalid_setting) for a flag without a
/// value, leaving argv unchanged. Null argc/argv: no flags.
Flags take_flags(int* argc, char*** argv);

/// Resolve: explicit override > flag (the last of the same name) > MPINIT_* variable in `env` >
/// default. Throws Error(invalid_setting) naming the variable (or flag), its value and the
/// allowed values.
Settings resolve_settings(const Overrides& overrides, const EnvMap& env, const Flags& flags = {});

/// (name, value, source) rows for reports.
struct SettingRow {
  std::string name, value, source;
};
std::vector<SettingRow> describe(const Settings& s);

}  // namespace v1
}  // namespace mpinit
