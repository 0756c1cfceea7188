// The public enums, and their names in both directions: to_string(e), and from_string(name, e) /
// parse_enum<E>(name). The names are those the MPINIT_* variables and the --mpinit-* flags take.
#pragma once

#include <optional>
#include <string_view>

#include "mpinit/export.hpp"

namespace mpinit {
inline namespace v2 {

/// How launch() treats MPI.
enum class InitMode {
  own,            ///< initialize MPI (error if already initialized); finalize it at the end
  adopt,          ///< use an MPI the caller initialized (error if not); never finalize it
  own_if_needed,  ///< adopt when MPI is initialized, else own (the default)
  env_only,       ///< no MPI at all: identity from the launcher environment alone
};

/// MPI's thread support levels, in MPI's order.
enum class ThreadLevel { single, funneled, serialized, multiple };

/// How much mpinit logs (each level includes those before it).
enum class LogLevel { none, error, warn, info, debug, trace };

/// What a disagreement between MPI and the launcher environment does.
enum class CheckLevel { off, warn, error };

/// When the session's NCCL communicator is made.
enum class NcclMode {
  off,     ///< never (Session::nccl() throws)
  lazy,    ///< on the first Session::nccl() call, collectively (the default)
  launch,  ///< during launch(), as its last phase
};

/// How GPUs are handed out to the ranks of a node.
enum class GpuPolicy {
  spread,     ///< one GPU per rank; more ranks than GPUs share them in contiguous blocks;
              ///< fewer ranks than GPUs are spread over the node (the default)
  exclusive,  ///< one GPU per rank; more ranks than GPUs is an error
  split,      ///< the GPUs are divided among the ranks (a rank may get several)
  none,       ///< no GPU placement (CPU sets and NICs only)
};

/// When launch() places the process (binds it, selects its GPU, sets MPI's network variables).
enum class PlaceWhen {
  automatic,  ///< "auto": before MPI_Init where the launcher tells the local rank and size, else after
  before,     ///< before MPI_Init (an error where the launcher does not tell the local rank and size)
  after,      ///< after MPI_Init, from MPI's node split
};

/// Which communication libraries are told the planned NIC through their variables.
enum class NetExport {
  off,  ///< none
  mpi,  ///< MPI's transports (UCX_NET_DEVICES, ...), before MPI_Init: the default
  all,  ///< MPI's and NCCL's (NCCL_IB_HCA / NCCL_SOCKET_IFNAME); NCCL picks its own NICs otherwise
};

/// The programs that start processes and describe them through the environment.
enum class Launcher {
  none,      ///< no launcher variables: a singleton, or a launcher mpinit does not know
  torchrun,  ///< torchrun / torch.distributed.run (TORCHELASTIC_RUN_ID, RANK, ...)
  openmpi,   ///< Open MPI mpirun: orted (4.x) or PRRTE (5.x) (OMPI_COMM_WORLD_*)
  mvapich2,  ///< MVAPICH2 mpirun_rsh (MV2_COMM_WORLD_*)
  flux,      ///< a task of a Flux job (FLUX_TASK_RANK, FLUX_JOB_SIZE, ...)
  pals,      ///< HPE Cray PALS (PALS_*)
  jsm,       ///< IBM LSF jsrun (JSM_NAMESPACE_*)
  hydra,     ///< MPICH Hydra or Intel MPI (PMI_RANK, MPI_LOCALRANKID, ...)
  slurm,     ///< a task of a Slurm job step started by srun (SLURM_STEP_ID, SLURM_PROCID, ...)
  pmix,      ///< a PMIx server gave a rank only (PMIX_RANK)
  torch_env, ///< RANK/WORLD_SIZE set without torchrun (by hand or by mpinit exec)
};

/// The lowercase name of a value ("own_if_needed", "funneled", "slurm", ...); "?" for a value
/// outside the enum.
MPINIT_API const char* to_string(InitMode) noexcept;
MPINIT_API const char* to_string(ThreadLevel) noexcept;
MPINIT_API const char* to_string(LogLevel) noexcept;
MPINIT_API const char* to_string(CheckLevel) noexcept;
MPINIT_API const char* to_string(NcclMode) noexcept;
MPINIT_API const char* to_string(GpuPolicy) noexcept;
MPINIT_API const char* to_string(Launcher) noexcept;
MPINIT_API const char* to_string(PlaceWhen) noexcept;
MPINIT_API const char* to_string(NetExport) noexcept;

/// The value whose name is `name`, exactly as to_string spells it: true and `out` set, or
/// false and `out` untouched.
MPINIT_API bool from_string(std::string_view name, InitMode& out) noexcept;
MPINIT_API bool from_string(std::string_view name, ThreadLevel& out) noexcept;
MPINIT_API bool from_string(std::string_view name, LogLevel& out) noexcept;
MPINIT_API bool from_string(std::string_view name, CheckLevel& out) noexcept;
MPINIT_API bool from_string(std::string_view name, NcclMode& out) noexcept;
MPINIT_API bool from_string(std::string_view name, GpuPolicy& out) noexcept;
MPINIT_API bool from_string(std::string_view name, Launcher& out) noexcept;
MPINIT_API bool from_string(std::string_view name, PlaceWhen& out) noexcept;
MPINIT_API bool from_string(std::string_view name, NetExport& out) noexcept;

/// parse_enum<GpuPolicy>("split") == GpuPolicy::split; nullopt for a name that is none of E's.
template <class E>
std::optional<E> parse_enum(std::string_view name) noexcept {
  E e{};
  if (from_string(name, e)) return e;
  return std::nullopt;
}

}  // namespace v2
}  // namespace mpinit
