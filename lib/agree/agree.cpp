// The status agreement (agree.hpp).
#include "agree/agree.hpp"

#include <algorithm>
#include <climits>
#include <mutex>
#include <string>
#include <vector>

#include "core/failure.hpp"
#include "mpi/finalize.hpp"
#include "mpi/world.hpp"

namespace mpinit::detail {
namespace {

// One rank's record: [failed count, lowest failing ranks (INT_MAX = none)...], reduced as ONE
// element of a committed contiguous datatype of kRecordLen ints, so that MPI, which applies a user
// op element by element and may split a buffer between elements, never splits a record.
constexpr int kListed = 8;
constexpr int kRecordLen = 1 + kListed;

// The user op: merges *len records of `in` into `inout` (sum the counts, keep the lowest ranks).
void merge_failures(void* in, void* inout, int* len, MPI_Datatype*) {
  const int* a = static_cast<const int*>(in);
  int* b = static_cast<int*>(inout);
  for (int r = 0; r < *len; ++r, a += kRecordLen, b += kRecordLen) {
    int merged[kListed];
    int i = 1, j = 1;
    for (int k = 0; k < kListed; ++k) merged[k] = a[i] <= b[j] ? a[i++] : b[j++];
    b[0] += a[0];
    std::copy(merged, merged + kListed, b + 1);
  }
}

// The record's datatype and the op, made once per process on first use and freed inside
// MPI_Finalize (at_finalize).
struct Reduction {
  MPI_Datatype record = MPI_DATATYPE_NULL;
  MPI_Op merge = MPI_OP_NULL;
};
std::mutex reduction_mutex;
Reduction reduction;

void free_reduction() {
  std::lock_guard<std::mutex> lock(reduction_mutex);
  if (reduction.merge != MPI_OP_NULL) MPI_Op_free(&reduction.merge);
  if (reduction.record != MPI_DATATYPE_NULL) MPI_Type_free(&reduction.record);
}

Reduction failure_reduction() {
  std::lock_guard<std::mutex> lock(reduction_mutex);
  if (reduction.merge == MPI_OP_NULL) {
    Reduction made;
    check_mpi(MPI_Type_contiguous(kRecordLen, MPI_INT, &made.record), "MPI_Type_contiguous(status record)");
    int rc = MPI_Type_commit(&made.record);
    if (rc == MPI_SUCCESS) rc = MPI_Op_create(&merge_failures, /*commute=*/1, &made.merge);
    if (rc == MPI_SUCCESS) {
      try {
        at_finalize(&free_reduction);
      } catch (...) {
        MPI_Op_free(&made.merge);
        MPI_Type_free(&made.record);
        throw;
      }
    } else {
      MPI_Type_free(&made.record);
    }
    check_mpi(rc, "MPI_Type_commit/MPI_Op_create(status agreement)");
    reduction = made;
  }
  return reduction;
}

}  // namespace

void agree(MPI_Comm comm, const PhaseStatus& mine, const std::string& host) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int buf[kRecordLen];
  buf[0] = mine.failed ? 1 : 0;
  std::fill(buf + 1, buf + kRecordLen, INT_MAX);
  if (mine.failed) buf[1] = rank;
  const Reduction red = failure_reduction();
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf, 1, red.record, red.merge, comm), "MPI_Allreduce(status agreement)");
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
  for (int k = 1; k < kRecordLen && buf[k] != INT_MAX; ++k) ranks.push_back(buf[k]);
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
