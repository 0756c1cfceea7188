// Settings: declared once in MPINIT_SETTINGS, each optional at every level, resolved with a
// fixed precedence (option > --mpinit-* flag > MPINIT_* variable > default), its source kept.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mpinit/enums.hpp"
#include "mpinit/env.hpp"
#include "mpinit/export.hpp"
#include "mpinit/seed.hpp"
#include "mpinit/sourced.hpp"

namespace mpinit {
inline namespace v2 {

// Every setting, declared once:
//   X(field, type, default, variable, rule, name, doc)
// field     the member of Overrides and Settings (and Options)
// type      its C++ type
// variable  the MPINIT_* variable; the flag is --mpinit- and the rest in lowercase with dashes
// rule      how a value is read and checked (the library's table: on/off, a range, the enum's names...)
// name      the setting's name in reports (mpinit info --settings), in the C config
//           (mpinit_config_t.<name>), in Fortran and in Python keyword arguments
// doc       one line for the documentation table (docs/environment.md is checked against it)
// A new setting is one more line here, a field at the end of mpinit_config_t, and a line in the
// docs; a test fails when any of them is missing.
#define MPINIT_SETTINGS(X)                                                                                        \
  X(mode, InitMode, InitMode::own_if_needed, "MPINIT_MODE", Names(), mode,                                        \
    "initialize MPI, adopt the caller's, either, or use no MPI at all")                                           \
  X(thread_level, ThreadLevel, ThreadLevel::funneled, "MPINIT_THREAD_LEVEL", Names(), thread_level,               \
    "level asked of `MPI_Init_thread`; a lower provided level is an error when set explicitly, a warning "        \
    "otherwise")                                                                                                  \
  X(log_level, LogLevel, LogLevel::warn, "MPINIT_LOG_LEVEL", Names(), log_level,                                  \
    "log lines go to stderr as `host:pid [rank r/lr] mpinit LEVEL message`")                                      \
  X(log_all_ranks, bool, false, "MPINIT_LOG_RANKS", Pair("root", "all"), log_ranks,                               \
    "INFO and finer on rank 0 only, or on every rank (WARN and ERROR are always on every rank)")                  \
  X(check, CheckLevel, CheckLevel::error, "MPINIT_CHECK", Names(), check,                                         \
    "what a disagreement between MPI and the launcher's variables does")                                          \
  X(placement, bool, true, "MPINIT_PLACEMENT", OnOff(), placement,                                                \
    "plan and apply GPU/NIC/CPU placement (with hwloc)")                                                          \
  X(topology_file, std::string, "", "MPINIT_TOPOLOGY", File(), topology,                                          \
    "an hwloc XML file to plan on instead of this machine; such a plan is not applied")                           \
  X(gpu_policy, GpuPolicy, GpuPolicy::spread, "MPINIT_GPU_POLICY", Names(), gpu_policy,                           \
    "how GPUs are handed out (docs/placement.md)")                                                                \
  X(bind, bool, true, "MPINIT_BIND", OnOff(), bind, "bind each rank's CPUs as planned")                           \
  X(membind, bool, true, "MPINIT_MEMBIND", OnOff(), membind, "bind memory to the NUMA nodes of those CPUs")        \
  X(oversubscribe, bool, true, "MPINIT_OVERSUBSCRIBE", OnOff(), oversubscribe,                                    \
    "more local ranks than allowed cores: share cores, or fail")                                                  \
  X(export_net, NetExport, NetExport::mpi, "MPINIT_EXPORT_NET", Names(), export_net,                              \
    "tell the planned NIC to MPI's transports before `MPI_Init` (`mpi`), also to NCCL (`all`), or to none; "      \
    "never over a variable the user set (docs/placement.md)")                                                     \
  X(place, PlaceWhen, PlaceWhen::automatic, "MPINIT_PLACE", Names(), place,                                       \
    "place the process before `MPI_Init` where the launcher tells the local rank and size (`auto`), always "      \
    "(`before`), or after `MPI_Init` from MPI's node split (`after`)")                                            \
  X(topology_share, bool, true, "MPINIT_TOPOLOGY_SHARE", OnOff(), topology_share,                                 \
    "one topology discovery per node, shared with the node's other ranks; `off`: every rank discovers")           \
  X(share_dir, std::string, "", "MPINIT_SHARE_DIR", Directory(), share_dir,                                       \
    "where the node's ranks meet before MPI (a private directory per job is made in it); default `/dev/shm`, "    \
    "else `$TMPDIR`, else `/tmp`")                                                                                \
  X(rebind, bool, false, "MPINIT_REBIND", OnOff(), rebind,                                                        \
    "replace a CPU binding the process started with (`taskset`, `srun --cpu-bind`, `mpirun --bind-to`) instead "  \
    "of planning inside it")                                                                                      \
  X(seed, SeedSetting, SeedSetting{}, "MPINIT_SEED", Seed(), seed,                                                \
    "the global seed; rank 0's value is everyone's; `random` is drawn by rank 0 and logged at INFO "              \
    "(docs/seeds-nccl.md)")                                                                                       \
  X(nccl, NcclMode, NcclMode::lazy, "MPINIT_NCCL", Names(), nccl,                                                 \
    "make the NCCL communicator never, on the first `Session::nccl()`, or during `launch()`")                     \
  X(nccl_timeout_s, int, 300, "MPINIT_NCCL_TIMEOUT", Range(1, 86400), nccl_timeout_s,                             \
    "seconds: an NCCL communicator not ready by then is aborted (`ncclCommAbort`) and fails every rank; "          \
    "inside `launch()`, at most what is left of `MPINIT_LAUNCH_TIMEOUT` less a margin (docs/seeds-nccl.md)")      \
  X(nccl_ranks_per_root, int, 128, "MPINIT_NCCL_RANKS_PER_ROOT", Range(1, 1 << 24), nccl_ranks_per_root,          \
    "above this many ranks, several unique ids and `ncclCommInitRankScalable`")                                   \
  X(launch_timeout_s, int, 300, "MPINIT_LAUNCH_TIMEOUT", Range(0, 86400), launch_timeout_s,                       \
    "seconds `launch()` waits for the other ranks (from `MPI_Init` on, `MPINIT_NCCL=launch` included) before "    \
    "this rank says so and ends with status 124; `0` waits for ever (docs/reliability.md)")

/// Explicit settings given in code. Unset fields fall through to flags, MPINIT_* variables, then
/// defaults. One std::optional per row of MPINIT_SETTINGS.
struct Overrides {
#define MPINIT_SETTING_OVERRIDE(field, type, def, var, rule, name, doc) std::optional<type> field;
  MPINIT_SETTINGS(MPINIT_SETTING_OVERRIDE)
#undef MPINIT_SETTING_OVERRIDE
};

/// Resolved settings, one per row of MPINIT_SETTINGS; each value's source is "option", the
/// flag's spelling, the MPINIT_* variable, or "default".
struct Settings {
#define MPINIT_SETTING_FIELD(field, type, def, var, rule, name, doc) Sourced<type> field{def, "default"};
  MPINIT_SETTINGS(MPINIT_SETTING_FIELD)
#undef MPINIT_SETTING_FIELD
  /// Remarks found while resolving (an unknown MPINIT_* variable, most likely a typo).
  std::vector<std::string> warnings;
};

/// One row of the settings table, as text: for reports, the tool and the documentation.
struct SettingInfo {
  std::string name;      ///< "gpu_policy": reports, mpinit_config_t's field, Python's keyword
  std::string variable;  ///< "MPINIT_GPU_POLICY"
  std::string flag;      ///< "--mpinit-gpu-policy"
  std::string field;     ///< "gpu_policy": the member of Overrides and Settings
  std::string allowed;   ///< "spread|exclusive|split|none", "1..86400", "on|off", ...
  std::string default_value;  ///< as the variable would spell it ("spread", "300", "on")
  std::string doc;       ///< one line
};
/// Every setting, in the order of MPINIT_SETTINGS.
MPINIT_API const std::vector<SettingInfo>& setting_table();

/// Every MPINIT_* variable mpinit reads (the table's variables).
MPINIT_API const std::vector<std::string>& known_variables();

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
MPINIT_API Flags take_flags(int* argc, char*** argv);

/// Resolve: explicit override > flag (the last of the same name) > MPINIT_* variable in `env` >
/// default. Throws Error(invalid_setting) naming the variable (or flag, or option), its value and
/// the allowed values. Values given in code are checked by the same rules as the variables.
MPINIT_API Settings resolve_settings(const Overrides& overrides, const EnvMap& env, const Flags& flags = {});

/// (name, value, source) rows for reports, one per setting in table order.
struct SettingRow {
  std::string name, value, source;
};
MPINIT_API std::vector<SettingRow> describe(const Settings& s);

}  // namespace v2
}  // namespace mpinit
