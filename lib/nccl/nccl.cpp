// NCCL communicators bootstrapped over MPI.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "mpinit/error.hpp"
#include "mpinit/nccl.hpp"
#if MPINIT_HAVE_NCCL
#include <nccl.h>
#endif
#include "agree/agree.hpp"
#include "core/system.hpp"
#include "mpi/inner.hpp"
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

// nccl_unique_ids on `comm`, a communicator of mpinit's own. One slot per root, the id and a
// success flag; each root fills its own slot and every other byte is zero, so one MPI_BOR over
// the bytes gives every rank every slot: one collective whatever the number of roots, the same
// on every rank, and no rank-0 hotspot. Only when some root failed (a flag missing, seen alike
// by every rank) do the ranks agree, to spread that root's cause.
std::vector<NcclId> unique_ids(MPI_Comm comm, int ranks_per_root) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const std::vector<int> roots = detail::nccl_roots(size, ranks_per_root);
  constexpr size_t kSlot = sizeof(ncclUniqueId) + 1;
  std::vector<unsigned char> slots(roots.size() * kSlot, 0);
  std::string cause;
  auto me = std::lower_bound(roots.begin(), roots.end(), rank);
  if (me != roots.end() && *me == rank) {
    unsigned char* slot = slots.data() + (me - roots.begin()) * kSlot;
    ncclUniqueId id;
    ncclResult_t rc = ncclGetUniqueId(&id);
    if (rc == ncclSuccess) {
      std::memcpy(slot, &id, sizeof id);
      slot[sizeof id] = 1;
    } else {
      cause = nccl_error("ncclGetUniqueId", rc, nullptr);
    }
  }
  detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, slots.data(), static_cast<int>(slots.size()), MPI_BYTE, MPI_BOR, comm),
                    "MPI_Allreduce(ncclUniqueId)");
  std::vector<NcclId> ids(roots.size());
  bool all = true;
  for (size_t i = 0; i < roots.size(); ++i) {
    all = all && slots[i * kSlot + sizeof(ncclUniqueId)] == 1;
    std::memcpy(ids[i].data(), slots.data() + i * kSlot, sizeof(ncclUniqueId));
  }
  if (!all) {
    ncclComm_t none = nullptr;
    agree_or_abort(comm, "nccl ids", cause, none);  // throws on every rank
    throw Error(Errc::internal, "nccl ids: a root's id is missing, yet no root reported a failure");
  }
  return ids;
}

}  // namespace

std::vector<NcclId> nccl_unique_ids(MPI_Comm comm, int ranks_per_root) {
  return unique_ids(detail::inner_comm(comm), ranks_per_root);
}

NcclComm nccl_comm_for(MPI_Comm user, const NcclOptions& options) {
  const MPI_Comm comm = detail::inner_comm(user);
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  std::vector<NcclId> ids = unique_ids(comm, options.ranks_per_root);
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
  return NcclComm(c, rank, size, options.timeout_s);
}

NcclComm nccl_split(const NcclComm& parent, MPI_Comm parent_mpi, int color, int key, const NcclOptions& options) {
  const MPI_Comm comm = detail::inner_comm(parent_mpi);  // first: it may be collective
  ncclComm_t c = nullptr;
  std::string cause;
  if (!parent) {
    cause = "ncclCommSplit: the parent communicator is empty";
  } else {
    ncclConfig_t config = nonblocking_config();
    ncclResult_t rc = ncclCommSplit(parent.get(), color, key, &c, &config);
    if (rc != ncclSuccess && rc != ncclInProgress) {
      cause = nccl_error("ncclCommSplit", rc, parent.get());
    } else if (c) {
      cause = wait_ready(c, "ncclCommSplit", options.timeout_s, options.timeout_setting);
    } else {
      // Left out (NCCL_SPLIT_NOCOLOR): the parent reports when the split is done; never abort it here.
      int last = ncclSuccess;
      auto result = wait_async(parent.get(), options.timeout_s, &last);
      if (result != detail::WaitResult::ready)
        cause = result == detail::WaitResult::timed_out
                    ? "ncclCommSplit did not finish within the timeout"
                    : nccl_error("ncclCommSplit", static_cast<ncclResult_t>(last), parent.get());
    }
  }
  agree_or_abort(comm, "nccl split", cause, c);
  int r = -1, n = 0;
  if (c) {
    ncclCommUserRank(c, &r);
    ncclCommCount(c, &n);
  }
  return NcclComm(c, r, n, options.timeout_s);
}

NcclComm& NcclComm::operator=(NcclComm&& o) noexcept {
  if (this != &o) {
    end();  // what this held ends as in the destructor
    comm_ = std::exchange(o.comm_, nullptr);
    rank_ = std::exchange(o.rank_, -1);
    size_ = std::exchange(o.size_, 0);
    timeout_s_ = o.timeout_s_;
  }
  return *this;
}

NcclComm::~NcclComm() { end(); }

void NcclComm::end() noexcept {
  if (!comm_) return;
  ncclComm_t c = comm_;
  comm_ = nullptr;
  const detail::Teardown how = detail::teardown(
      [c] {
        ncclResult_t st = ncclInProgress;
        ncclResult_t rc = ncclCommGetAsyncError(c, &st);
        return static_cast<int>(rc != ncclSuccess ? rc : st);
      },
      [c] { return static_cast<int>(ncclCommFinalize(c)); }, ncclSuccess, ncclInProgress, timeout_s_, seconds_now,
      [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
  if (how == detail::Teardown::destroy)
    ncclCommDestroy(c);
  else
    ncclCommAbort(c);
}

void NcclComm::check() const {
  if (!comm_) return;
  ncclResult_t st = ncclSuccess;
  ncclResult_t rc = ncclCommGetAsyncError(comm_, &st);
  if (rc != ncclSuccess) throw Error(Errc::nccl, nccl_error("ncclCommGetAsyncError", rc, comm_));
  if (st != ncclSuccess && st != ncclInProgress)
    throw Error(Errc::nccl, nccl_error("NCCL (asynchronous error)", st, comm_));
}

void NcclComm::wait(double timeout_s) const {
  if (!comm_) return;
  int last = ncclSuccess;
  const auto result = wait_async(comm_, timeout_s, &last);
  if (result == detail::WaitResult::ready) return;
  const std::string where = " (NCCL rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ", " +
                            detail::hostname() + ")";
  if (result == detail::WaitResult::timed_out) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", timeout_s);
    throw Error(Errc::nccl, std::string("NcclComm::wait: the last NCCL call was still in progress after ") + secs +
                                " s" + where);
  }
  throw Error(Errc::nccl, nccl_error("NCCL (asynchronous error)", static_cast<ncclResult_t>(last), comm_) + where);
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
  if (this != &o) {
    comm_ = std::exchange(o.comm_, nullptr);
    rank_ = std::exchange(o.rank_, -1);
    size_ = std::exchange(o.size_, 0);
    timeout_s_ = o.timeout_s_;
  }
  return *this;
}
NcclComm::~NcclComm() = default;
void NcclComm::end() noexcept { comm_ = nullptr; }
void NcclComm::check() const {}
void NcclComm::wait(double) const {}
void NcclComm::abort() noexcept { comm_ = nullptr; }

#endif

}  // namespace v2
}  // namespace mpinit
