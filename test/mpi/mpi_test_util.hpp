// Helpers for the MPI gtest binaries.
#pragma once

#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <string>

namespace mpitest {

// This machine's short host name, as mpinit reports it.
inline std::string hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

inline int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
inline int world_size() {
  int s = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &s);
  return s;
}

// Does every rank of `comm` hold the string its rank 0 holds?
inline bool same_everywhere(const std::string& s, MPI_Comm comm = MPI_COMM_WORLD) {
  int len = static_cast<int>(s.size()), me = 0;
  MPI_Comm_rank(comm, &me);
  MPI_Bcast(&len, 1, MPI_INT, 0, comm);
  std::string root(len, '\0');
  if (me == 0) root = s;
  MPI_Bcast(root.data(), len, MPI_CHAR, 0, comm);
  int same = root == s ? 1 : 0, all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, comm);
  return all == 1;
}

}  // namespace mpitest
