// The launcher's view of this process, parsed from an environment map (pure: no MPI, no I/O).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mpinit/error.hpp"

namespace mpinit {
inline namespace v1 {

/// A snapshot of environment variables. Parsers take one of these, never the process
/// environment, so they are pure and testable.
using EnvMap = std::map<std::string, std::string>;

/// The current process environment as an EnvMap.
EnvMap process_env();

/// A value together with where it came from: a variable name ("SLURM_PROCID"), an MPI call
/// ("MPI_Comm_rank"), an option, or "default".
template <class T>
struct Sourced {
  T value{};
  std::string source;
};

/// The programs that start processes and describe them through the environment.
enum class Launcher {
  none,      ///< no launcher variables: a singleton, or a launcher mpinit does not know
  torchrun,  ///< torchrun / torch.distributed.run (TORCHELASTIC_RUN_ID, RANK, ...)
  openmpi,   ///< Open MPI mpirun/orted (OMPI_COMM_WORLD_*)
  mvapich2,  ///< MVAPICH2 mpirun_rsh (MV2_COMM_WORLD_*)
  pals,      ///< HPE Cray PALS (PALS_*)
  jsm,       ///< IBM LSF jsrun (JSM_NAMESPACE_*)
  hydra,     ///< MPICH Hydra or Intel MPI (PMI_RANK, MPI_LOCALRANKID, ...)
  slurm,     ///< a task of a Slurm job step started by srun (SLURM_STEP_ID, SLURM_PROCID, ...)
  pmix,      ///< a PMIx server gave a rank only (PMIX_RANK)
  torch_env, ///< RANK/WORLD_SIZE set without torchrun (by hand or by mpinit exec)
};

/// Lowercase name ("openmpi", "slurm", ...).
const char* launcher_name(Launcher l) noexcept;

/// What the environment says about this process. Each field is set only where the launcher
/// tells it, with the variable it came from.
struct LaunchEnv {
  Launcher launcher = Launcher::none;
  std::optional<Sourced<int>> rank, size, local_rank, local_size, node_rank, node_count;
  /// Host names of the job step's nodes where the launcher lists them (Slurm), in node order.
  std::vector<std::string> nodes;
  std::optional<Sourced<std::string>> master_addr, master_port;
  /// Other launchers whose variables are present but do not describe this process
  /// (e.g. the batch step's SLURM_* under mpirun inside sbatch).
  std::vector<Launcher> also_present;
  /// Remarks on the choice, for logs ("SLURM_PROCID=0 belongs to the batch step; ignored").
  std::vector<std::string> notes;
};

/// Parse the launcher environment. Priority (the first match describes this process):
///  1. torchrun (TORCHELASTIC_RUN_ID with RANK): always the innermost launcher;
///  2. Open MPI, MVAPICH2, Cray PALS, LSF jsrun (their per-process rank variables);
///  3. MPICH Hydra / Intel MPI (MPI_LOCALRANKID, or PMI_RANK outside a Slurm step);
///  4. Slurm, only inside a job step (SLURM_STEP_ID set): a batch script's SLURM_PROCID=0 and
///     SLURM_NTASKS describe the allocation, not this process, and are never taken as rank/size;
///  5. PMIx (PMIX_RANK: rank only); 6. RANK/WORLD_SIZE set by hand.
/// Throws Error(invalid_environment) naming the variable, its value and the rule on any
/// malformed, out-of-range or inconsistent value of the chosen launcher.
LaunchEnv parse_launch_env(const EnvMap& env);

/// Expand a Slurm host list: "node[001,007-009]" -> node001 node007 node008 node009;
/// "rack[1-2]-n[01-02]" -> rack1-n01 rack1-n02 rack2-n01 rack2-n02; "a,b[1-2]c" -> a b1c b2c.
/// `what` names the variable in error messages. Throws Error(invalid_environment).
std::vector<std::string> expand_hostlist(const std::string& list, const std::string& what = "host list");

/// Decode Slurm tasks per node: "2(x3),1" -> 2 2 2 1. Throws Error(invalid_environment).
std::vector<int> decode_tasks_per_node(const std::string& spec, const std::string& what = "tasks per node");

/// Strict integer parse of variable `name` = `value`: the whole string must be a decimal
/// integer in [min, max]. Throws Error(code) "NAME='value' is not an integer" and the like.
int parse_int(const std::string& name, const std::string& value, long min, long max,
              Errc code = Errc::invalid_environment);

}  // namespace v1
}  // namespace mpinit
