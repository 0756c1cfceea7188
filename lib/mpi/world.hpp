// The MPI edge: init/adopt, communicator splits, identity from MPI, cross-check with the launcher.
// Internal to the library.
#pragma once

#include <mpi.h>

#include <string>
#include <vector>

#include "mpinit/enums.hpp"
#include "mpinit/env.hpp"
#include "mpinit/error.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/log.hpp"

namespace mpinit::detail {

/// What the session made or adopted. release() frees only what it made.
struct MpiState {
  MPI_Comm comm = MPI_COMM_NULL;   ///< duplicate of WORLD or of the caller's communicator (owned)
  MPI_Comm local = MPI_COMM_NULL;  ///< the ranks of comm on this node (owned)
  bool owns_init = false;          ///< the session called MPI_Init_thread
  bool is_world = false;           ///< comm has the same group as MPI_COMM_WORLD
  ThreadLevel provided = ThreadLevel::single;
};

/// Throws Error(mpi) "CALL failed: <MPI error string>" when rc is not MPI_SUCCESS.
void check_mpi(int rc, const char* call);

/// Initialize MPI or adopt it by `mode`, then duplicate the working communicator (`user`, or
/// WORLD when it is MPI_COMM_NULL) and set MPI_ERRORS_RETURN on the duplicate only; the
/// duplicate is marked as mpinit's own (inner.hpp: inner_comm() takes it as it is).
/// `strict_thread_level`: a provided level below the requested one is an error (else a warning).
void init_or_adopt(InitMode mode, ThreadLevel requested, bool strict_thread_level, int* argc, char*** argv,
                   MPI_Comm user, const Logger& log, MpiState& out);

/// Free the communicators and finalize MPI if the session initialized it. Never throws; does
/// nothing once MPI is finalized.
void release(MpiState& st) noexcept;

/// Rank, size, local split, node index and count from MPI (collective over st.comm; only O(1)
/// data per rank). Sets st.local (MPI_ERRORS_RETURN, marked as mpinit's own).
Identity mpi_identity(MpiState& st, const std::string& host, const Logger& log);

/// Disagreements between the MPI identity and the launcher's view, as messages naming both
/// values. Only ranks and sizes of the world are compared, so nothing is compared when the
/// session works on a sub-communicator. `fatal` is false for those that are warnings at most.
struct Disagreement {
  std::string message;
  bool fatal = true;
};
std::vector<Disagreement> cross_check(const Identity& mpi, const LaunchEnv& env, bool is_world);

}  // namespace mpinit::detail
