// The agreement protocol: after each phase every rank of a communicator agrees on one status, so
// that all fail together with the same Error. Internal.
#pragma once

#include <mpi.h>

#include <string>

#include "mpinit/error.hpp"

namespace mpinit::detail {

/// One rank's outcome of a phase.
struct PhaseStatus {
  bool failed = false;
  Errc code = Errc::internal;
  std::string phase;
  std::string message;  ///< the cause (naming the input and the rule)
};

/// All ranks of `comm` agree on the status (one small allreduce; a broadcast of the first
/// failure's message only when something failed). If any rank failed, every rank throws the
/// same Error: phase, failing ranks (the lowest few, and the count), and the first one's cause.
void agree(MPI_Comm comm, const PhaseStatus& mine, const std::string& host);

/// agree() over `comm`; with no communicator (MPI_COMM_NULL: env-only mode) this rank's own
/// failure is thrown as a lone_failure naming `rank` and `host`.
void agree_or_raise(MPI_Comm comm, const PhaseStatus& mine, const std::string& rank, const std::string& host);

}  // namespace mpinit::detail
