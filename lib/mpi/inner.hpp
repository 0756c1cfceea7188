// The library's own communicators: a private duplicate of a caller's communicator, cached on it
// with MPI attribute caching (as PETSc's PetscCommDuplicate does), so that mpinit's collectives
// never run on the caller's communicator nor under its error handler. Internal.
#pragma once

#include <mpi.h>

namespace mpinit::detail {

/// The communicator mpinit's traffic runs on for the caller's communicator `user`.
///
/// The first call on `user` duplicates it (MPI_Comm_dup: collective over `user`), sets
/// MPI_ERRORS_RETURN on the duplicate, and caches the duplicate on `user` as an attribute; later
/// calls find it there and run no collective. The duplicate goes away with `user`: the keyval's
/// delete callback frees it when the caller frees `user`, and MPI_Finalize does for a
/// communicator that is never freed (MPI_COMM_WORLD, say; see at_finalize). MPI_Comm_dup and
/// the attribute calls are all that touch `user`: its error handler and its traffic are the
/// caller's. A communicator of mpinit's own (mark_own: the session's duplicate and node
/// communicator, and each duplicate made here) is returned as it is. The result belongs to
/// mpinit: never free it. Every rank of `user` must call it (the first call is collective).
/// Thread-safe for different communicators. Throws Error(invalid_setting) for MPI_COMM_NULL and
/// Error(mpi) naming the call when MPI fails.
MPI_Comm inner_comm(MPI_Comm user);

/// Marks `comm`, a communicator mpinit made and frees itself, as its own: inner_comm(comm)
/// returns comm. A duplicate of it made by anyone else is not marked (the mark is not copied).
void mark_own(MPI_Comm comm);

}  // namespace mpinit::detail
