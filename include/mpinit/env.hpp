// The launcher's view of this process, parsed from an environment map (pure: no MPI, no I/O).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mpinit/enums.hpp"
#include "mpinit/error.hpp"
#include "mpinit/export.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/sourced.hpp"

namespace mpinit {
inline namespace v2 {

/// A snapshot of environment variables. Parsers take one of these, never the process
/// environment, so they are pure and testable.
using EnvMap = std::map<std::string, std::string>;

/// The current process environment as an EnvMap.
MPINIT_API EnvMap process_env();

/// What the environment says about this process. A number the launcher does not give is
/// kUnknown, its source "unknown"; `sources` names the variable of every other one.
struct LaunchEnv {
  Launcher launcher = Launcher::none;
  int rank = kUnknown, size = kUnknown, local_rank = kUnknown, local_size = kUnknown, node_rank = kUnknown,
      node_count = kUnknown;
  Sources sources;
  /// Host names of the job step's nodes where the launcher lists them (Slurm), in node order.
  std::vector<std::string> nodes;
  /// MASTER_ADDR and MASTER_PORT where they are set.
  std::optional<Sourced<std::string>> master_addr, master_port;
  /// Other launchers whose variables are present but do not describe this process
  /// (e.g. the batch step's SLURM_* under mpirun inside sbatch).
  std::vector<Launcher> also_present;
  /// Remarks on the choice, for logs ("SLURM_PROCID=0 belongs to the batch step; ignored").
  std::vector<std::string> notes;
};

/// Parse the launcher environment. Priority (the first match describes this process):
///  1. torchrun (TORCHELASTIC_RUN_ID with RANK): always the innermost launcher;
///  2. Open MPI, MVAPICH2 (their per-process rank variables);
///  3. Flux (FLUX_TASK_RANK): over the PMI_RANK of its PMI plugin and the variables of a srun or
///     jsrun that started the Flux instance;
///  4. Cray PALS, LSF jsrun (their per-process rank variables);
///  5. MPICH Hydra / Intel MPI (MPI_LOCALRANKID, or PMI_RANK outside a Slurm step);
///  6. Slurm, only inside a job step (SLURM_STEP_ID set): a batch script's SLURM_PROCID=0 and
///     SLURM_NTASKS describe the allocation, not this process, and are never taken as rank/size;
///  7. PMIx (PMIX_RANK: rank only); 8. RANK/WORLD_SIZE set by hand.
/// Throws Error(invalid_environment) naming the variable, its value and the rule on any
/// malformed, out-of-range or inconsistent value of the chosen launcher.
MPINIT_API LaunchEnv parse_launch_env(const EnvMap& env);

/// Identity from the launcher environment alone (pure). With no launcher at all, a singleton
/// (rank 0 of 1 on node 0 of 1) with source "default (no launcher)".
MPINIT_API Identity identity_from_env(const LaunchEnv& env, const std::string& host);

/// Expand a Slurm host list: "node[001,007-009]" -> node001 node007 node008 node009;
/// "rack[1-2]-n[01-02]" -> rack1-n01 rack1-n02 rack2-n01 rack2-n02; "a,b[1-2]c" -> a b1c b2c.
/// `what` names the variable in error messages. Throws Error(invalid_environment).
MPINIT_API std::vector<std::string> expand_hostlist(const std::string& list, const std::string& what = "host list");

/// Decode Slurm tasks per node: "2(x3),1" -> 2 2 2 1. Throws Error(invalid_environment).
MPINIT_API std::vector<int> decode_tasks_per_node(const std::string& spec, const std::string& what = "tasks per node");

}  // namespace v2
}  // namespace mpinit
