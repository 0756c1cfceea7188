// The status agreement (agree.hpp).
#include "agree/agree.hpp"

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "core/failure.hpp"
#include "mpi/world.hpp"

namespace mpinit::detail {
namespace {

// The agreement buffer: [failed count, lowest failing ranks (INT_MAX = none)...].
constexpr int kListed = 8;
constexpr int kAgreeLen = 1 + kListed;

void merge_failures(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<int*>(in);
  auto* b = static_cast<int*>(inout);
  for (int off = 0; off + kAgreeLen <= *len; off += kAgreeLen) {
    int merged[kListed];
    int i = 1, j = 1;
    for (int k = 0; k < kListed; ++k) merged[k] = a[off + i] <= b[off + j] ? a[off + i++] : b[off + j++];
    b[off] += a[off];
    std::copy(merged, merged + kListed, b + off + 1);
  }
}

}  // namespace

void agree(MPI_Comm comm, const PhaseStatus& mine, const std::string& host) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int buf[kAgreeLen];
  buf[0] = mine.failed ? 1 : 0;
  std::fill(buf + 1, buf + kAgreeLen, INT_MAX);
  if (mine.failed) buf[1] = rank;
  MPI_Op op;
  MPI_Op_create(&merge_failures, /*commute=*/1, &op);
  int rc = MPI_Allreduce(MPI_IN_PLACE, buf, kAgreeLen, MPI_INT, op, comm);
  MPI_Op_free(&op);
  check_mpi(rc, "MPI_Allreduce(status agreement)");
  if (buf[0] == 0) return;

  // The lowest failing rank tells everyone its phase, code and cause.
  const int root = buf[1];
  const std::string cause_here = mine.message + raised_on(std::to_string(rank), host);
  int head[3] = {static_cast<int>(mine.code), static_cast<int>(mine.phase.size()),
                 static_cast<int>(cause_here.size())};
  check_mpi(MPI_Bcast(head, 3, MPI_INT, root, comm), "MPI_Bcast(status agreement)");
  std::string text = rank == root ? mine.phase + cause_here : std::string(head[1] + head[2], '\0');
  check_mpi(MPI_Bcast(text.data(), head[1] + head[2], MPI_CHAR, root, comm), "MPI_Bcast(status agreement)");
  const std::string phase = text.substr(0, head[1]);
  const std::string cause = text.substr(head[1]);

  std::vector<int> ranks;
  for (int k = 1; k < kAgreeLen && buf[k] != INT_MAX; ++k) ranks.push_back(buf[k]);
  const std::string msg = phase_failed(phase, cause, buf[0], size, ranks);
  throw ErrorAccess::agreed(Error(static_cast<Errc>(head[0]), msg, phase, ranks, buf[0]));
}

void agree_or_raise(MPI_Comm comm, const PhaseStatus& mine, const std::string& rank, const std::string& host) {
  if (comm != MPI_COMM_NULL)
    agree(comm, mine, host);
  else if (mine.failed)
    throw lone_failure(mine.code, mine.phase, mine.message, rank, host);
}

}  // namespace mpinit::detail
