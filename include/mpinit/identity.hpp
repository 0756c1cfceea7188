// Who this process is in the job.
#pragma once

#include <string>

#include "mpinit/env.hpp"

namespace mpinit {
inline namespace v1 {

/// Rank, sizes and node of this process, each with the source it came from. Under MPI the
/// values are those of the session's communicator (relative to it when the caller gave a
/// sub-communicator). In env-only mode they come from the launcher's variables; a value the
/// launcher does not give is -1 with source "unknown".
struct Identity {
  Sourced<int> rank, size, local_rank, local_size, node_rank, node_count;
  std::string host;                    ///< this process's host name
  Launcher launcher = Launcher::none;  ///< the launcher that started this process
  bool from_mpi = false;               ///< true when MPI gave the values
};

/// The short host name of this machine (gethostname).
std::string hostname();

/// Identity from the launcher environment alone (pure). With no launcher at all, a singleton
/// (rank 0 of 1 on node 0 of 1) with source "default (no launcher)".
Identity identity_from_env(const LaunchEnv& env, const std::string& host);

}  // namespace v1
}  // namespace mpinit
