// Work that must run while MPI still works, at the end: inside MPI_Finalize. Internal.
#pragma once

namespace mpinit::detail {

/// Runs `hook` inside MPI_Finalize, before MPI shuts anything down: from the delete callback of
/// an attribute cached on MPI_COMM_SELF, which MPI_Finalize deletes first of all (MPI-3.1
/// §8.7.1, "Allowing User Functions at Process Termination"). This is where mpinit frees the
/// MPI objects it keeps for the whole process (the agreement's datatype and op, the keyvals of
/// its communicator cache): never after MPI_Finalize, and not before it while they may be used.
/// Hooks run once, the last registered first, and must not throw. MPI must be initialized and
/// not finalized. Thread-safe. Throws Error(mpi) if the attribute cannot be set.
void at_finalize(void (*hook)());

}  // namespace mpinit::detail
