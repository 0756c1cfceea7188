// Who this process is in the job: plain numbers, with where each came from beside them.
#pragma once

#include <string>

#include "mpinit/enums.hpp"

namespace mpinit {
inline namespace v2 {

/// The one spelling of "not known" for a rank, size or node number: no launcher variable and no
/// MPI call gave it. Its source is "unknown".
constexpr int kUnknown = -1;

/// Where each number of an Identity or a LaunchEnv came from: a variable ("SLURM_PROCID"), an MPI
/// call ("MPI_Comm_rank"), "default (no launcher)", or "unknown".
struct Sources {
  std::string rank = "unknown", size = "unknown", local_rank = "unknown", local_size = "unknown",
              node_rank = "unknown", node_count = "unknown";
};

/// Rank, sizes and node of this process. Under MPI the values are those of the session's
/// communicator (relative to it when the caller gave a sub-communicator). In env-only mode they
/// come from the launcher's variables; a value the launcher does not give is kUnknown.
struct Identity {
  int rank = kUnknown;        ///< in the session's communicator
  int size = kUnknown;        ///< ranks in the session's communicator
  int local_rank = kUnknown;  ///< among the ranks of this node
  int local_size = kUnknown;  ///< ranks on this node
  int node_rank = kUnknown;   ///< index of this node, 0..node_count-1
  int node_count = kUnknown;  ///< nodes in the job (of the session's communicator)
  std::string host;                    ///< this process's host name
  Launcher launcher = Launcher::none;  ///< the launcher that started this process
  bool from_mpi = false;               ///< true when MPI gave the values
  Sources sources;                     ///< where each number came from
};

}  // namespace v2
}  // namespace mpinit
