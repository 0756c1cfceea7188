// NCCL communicators bootstrapped over MPI.
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "mpinit/error.hpp"
#include "mpinit/nccl.hpp"
#if MPINIT_HAVE_NCCL
#include <nccl.h>
#endif
#include "agree/agree.hpp"
#include "core/system.hpp"
#include "mpi/world.hpp"
#include "nccl/wait.hpp"

namespace mpinit {
inline namespace v2 {

#if MPINIT_HAVE_NCCL

namespace {

std::string nccl_error(const char* call, ncclResult_t rc, ncclComm_t comm) {
  std::string msg = std::string(call) + " failed: " + ncclGetErrorString(rc);
  const char* last = ncclGetLastError(comm);
  if (last && *last) msg += " (" + std::string(last) + ")";
  return msg;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Poll `comm`'s asynchronous state until it is no longer in progress, or for `timeout_s`.
detail::WaitResult wait_async(ncclComm_t comm, double timeout_s, int* last) {
  return detail::wait_for(
      [&] {
        ncclResult_t st = ncclInProgress;
        ncclResult_t rc = ncclCommGetAsyncError(comm, &st);
        return static_cast<int>(rc != ncclSuccess ? rc : st);
      },
      ncclSuccess, ncclInProgress, timeout_s, seconds_now,
      [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }, last);
}

// Wait for a communicator being created; on failure or timeout, abort it. Returns "" when
// ready, else the cause.
std::string wait_ready(ncclComm_t& comm, const char* call, double timeout_s, const std::string& setting) {
  int last = ncclSuccess;
  auto result = wait_async(comm, timeout_s, &last);
  if (result == detail::WaitResult::ready) return "";
  std::string why = result == detail::WaitResult::timed_out
                        ? std::string(call) + " did not finish within " + std::to_string(static_cast<int>(timeout_s)) +
                              " s (" + setting + "); the communicator was aborted"
                        : nccl_error(call, static_cast<ncclResult_t>(last), comm) + "; the communicator was aborted";
  ncclCommAbort(comm);
  comm = nullptr;
  return why;
}

// Every rank of `comm` agrees on the outcome; on failure, each aborts what it made and throws.
void agree_or_abort(MPI_Comm comm, const char* phase, const std::string& cause, ncclComm_t& made) {
  detail::PhaseStatus st;
  if (!cause.empty()) st = {true, Errc::nccl, phase, cause};
  try {
    detail::agree(comm, st, detail::hostname());
  } catch (...) {
    if (made) ncclCommAbort(made);
    made = nullptr;
    throw;
  }
}

ncclConfig_t nonblocking_config() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

}  // namespace

std::vector<NcclId> nccl_unique_ids(MPI_Comm comm, int ranks_per_root) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::vector<int> roots = detail::nccl_roots(size, ranks_per_root);
  std::vector<NcclId> ids(roots.size());
  std::string cause;
  // Each root makes its id and broadcasts it with a success flag, so a failed root never
  // leaves the others waiting.
  for (size_t i = 0; i < roots.size(); ++i) {
    char buf[sizeof(ncclUniqueId) + 1] = {};
    if (rank == roots[i]) {
      ncclUniqueId id;
      ncclResult_t rc = ncclGetUniqueId(&id);
      if (rc == ncclSuccess) {
        std::memcpy(buf, &id, sizeof id);
        buf[sizeof id] = 1;
      } else {
        cause = nccl_error("ncclGetUniqueId", rc, nullptr);
      }
    }
    detail::check_mpi(MPI_Bcast(buf, sizeof buf, MPI_CHAR, roots[i], comm), "MPI_Bcast(ncclUniqueId)");
    std::memcpy(ids[i].data(), buf, sizeof(ncclUniqueId));
  }
  ncclComm_t none = nullptr;
  agree_or_abort(comm, "nccl ids", cause, none);
  return ids;
}

NcclComm nccl_comm_for(MPI_Comm comm, const NcclOptions& options) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<NcclId> ids = nccl_unique_ids(comm, options.ranks_per_root);
  std::vector<ncclUniqueId> raw(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) std::memcpy(&raw[i], ids[i].data(), sizeof(ncclUniqueId));

  ncclConfig_t config = nonblocking_config();
  ncclComm_t c = nullptr;
  const char* call = raw.size() == 1 ? "ncclCommInitRankConfig" : "ncclCommInitRankScalable";
  ncclResult_t rc = raw.size() == 1 ? ncclCommInitRankConfig(&c, size, raw[0], rank, &config)
                                    : ncclCommInitRankScalable(&c, size, rank, static_cast<int>(raw.size()),
                                                               raw.data(), &config);
  std::string cause;
  if (rc != ncclSuccess && rc != ncclInProgress) {
    cause = nccl_error(call, rc, c);
    if (c) ncclCommAbort(c);
    c = nullptr;
  } else {
    cause = wait_ready(c, call, options.timeout_s, options.timeout_setting);
  }
  agree_or_abort(comm, "nccl", cause, c);
  return NcclComm(c, rank, size);
}

NcclComm nccl_split(const NcclComm& parent, MPI_Comm parent_mpi, int color, int key, const NcclOptions& options) {
  if (!parent) throw Error(Errc::nccl, "ncclCommSplit: the parent communicator is empty");
  ncclConfig_t config = nonblocking_config();
  ncclComm_t c = nullptr;
  ncclResult_t rc = ncclCommSplit(parent.get(), color, key, &c, &config);
  std::string cause;
  if (rc != ncclSuccess && rc != ncclInProgress) {
    cause = nccl_error("ncclCommSplit", rc, parent.get());
  } else if (c) {
    cause = wait_ready(c, "ncclCommSplit", options.timeout_s, options.timeout_setting);
  } else {
    // Left out (NCCL_SPLIT_NOCOLOR): the parent reports when the split is done; never abort it here.
    int last = ncclSuccess;
    auto result = wait_async(parent.get(), options.timeout_s, &last);
    if (result != detail::WaitResult::ready)
      cause = result == detail::WaitResult::timed_out ? "ncclCommSplit did not finish within the timeout"
                                                      : nccl_error("ncclCommSplit", static_cast<ncclResult_t>(last),
                                                                   parent.get());
  }
  agree_or_abort(parent_mpi, "nccl split", cause, c);
  int r = -1, n = 0;
  if (c) {
    ncclCommUserRank(c, &r);
    ncclCommCount(c, &n);
  }
  return NcclComm(c, r, n);
}

NcclComm& NcclComm::operator=(NcclComm&& o) noexcept {
  if (this != &o) {
    this->~NcclComm();
    comm_ = o.comm_;
    rank_ = o.rank_;
    size_ = o.size_;
    o.comm_ = nullptr;
  }
  return *this;
}

NcclComm::~NcclComm() {
  if (!comm_) return;
  ncclResult_t st = ncclSuccess;
  if (ncclCommGetAsyncError(comm_, &st) != ncclSuccess || (st != ncclSuccess && st != ncclInProgress)) {
    ncclCommAbort(comm_);
  } else if (ncclCommFinalize(comm_) == ncclSuccess || st == ncclInProgress) {
    // Non-blocking: wait (bounded) for the finalize to flush, then destroy.
    for (int i = 0; i < 10000; ++i) {
      if (ncclCommGetAsyncError(comm_, &st) != ncclSuccess || st != ncclInProgress) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (st == ncclSuccess)
      ncclCommDestroy(comm_);
    else
      ncclCommAbort(comm_);
  } else {
    ncclCommAbort(comm_);
  }
  comm_ = nullptr;
}

void NcclComm::check() const {
  if (!comm_) return;
  ncclResult_t st = ncclSuccess;
  ncclResult_t rc = ncclCommGetAsyncError(comm_, &st);
  if (rc != ncclSuccess) throw Error(Errc::nccl, nccl_error("ncclCommGetAsyncError", rc, comm_));
  if (st != ncclSuccess && st != ncclInProgress)
    throw Error(Errc::nccl, nccl_error("NCCL (asynchronous error)", st, comm_));
}

void NcclComm::abort() noexcept {
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
}

#else  // built without NCCL

namespace {
[[noreturn]] void not_built(const char* what) {
  throw Error(Errc::not_built, std::string(what) +
                                   ": mpinit was built without NCCL (rebuild with -Dnccl=enabled where NCCL and the "
                                   "CUDA runtime are installed)");
}
}  // namespace

std::vector<NcclId> nccl_unique_ids(MPI_Comm, int) { not_built("nccl_unique_ids"); }
NcclComm nccl_comm_for(MPI_Comm, const NcclOptions&) { not_built("nccl_comm_for"); }
NcclComm nccl_split(const NcclComm&, MPI_Comm, int, int, const NcclOptions&) { not_built("nccl_split"); }
NcclComm& NcclComm::operator=(NcclComm&& o) noexcept {
  comm_ = o.comm_;
  o.comm_ = nullptr;
  return *this;
}
NcclComm::~NcclComm() = default;
void NcclComm::check() const {}
void NcclComm::abort() noexcept { comm_ = nullptr; }

#endif

}  // namespace v2
}  // namespace mpinit
