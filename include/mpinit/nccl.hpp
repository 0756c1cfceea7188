// The NCCL bootstrap over MPI: unique ids made by root ranks and spread with MPI, non-blocking
// communicator creation with a timeout that aborts, and the same error on every rank.
// Built without NCCL (see features.hpp), every call throws Error(not_built).
#pragma once

#include <mpi.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "mpinit/export.hpp"
#include "mpinit/features.hpp"

// NCCL's opaque communicator type, as nccl.h declares it (ncclComm_t); this header does not need
// nccl.h, so it compiles where NCCL is not installed.
struct ncclComm;

namespace mpinit {
inline namespace v2 {

using nccl_comm_t = ncclComm*;

/// A unique id's 128 bytes.
using NcclId = std::array<char, 128>;

/// How NCCL communicators are made.
struct NcclOptions {
  double timeout_s = 300;    ///< a communicator not ready by then is aborted, on every rank
  /// What `timeout_s` came from, for the timeout's message ("MPINIT_NCCL_TIMEOUT=300 s").
  std::string timeout_setting = "MPINIT_NCCL_TIMEOUT";
  int ranks_per_root = 128;  ///< above this, several ids and ncclCommInitRankScalable
};

/// The roots of `comm` (one per ranks_per_root ranks, spread over it) each create a unique id; every rank gets all of them, in
/// root order, over MPI. Collective over comm. A root that fails makes every rank throw.
///
/// Like every function here that takes an MPI communicator, it runs its MPI traffic on a private
/// duplicate of `comm` (MPI_ERRORS_RETURN), made by the first such call and cached on `comm` as
/// an attribute: later calls reuse it, MPI_Comm_free(comm) frees it, and MPI_Finalize frees one of
/// a communicator never freed. Only MPI_Comm_dup and the attribute calls touch `comm` itself; its
/// error handler is never changed. A session's own communicators (Session::comm(),
/// Session::local_comm()) are private already and are used as they are.
MPINIT_API std::vector<NcclId> nccl_unique_ids(MPI_Comm comm, int ranks_per_root);

/// An NCCL communicator, owned.
///
/// It is NON-BLOCKING: mpinit makes every communicator with `ncclConfig_t::blocking = 0`, so
/// that a stuck init can be timed out and aborted, and NCCL has no call that makes a communicator
/// blocking afterwards (the field is read at creation only). So any NCCL call on get() -- a
/// collective, ncclGroupEnd, ncclCommSplit -- may return ncclInProgress instead of ncclSuccess:
/// the operation was accepted and is still being set up (for a collective: not yet enqueued on
/// the stream). Treat ncclInProgress as success and call wait() before the next NCCL call on
/// this communicator, or before synchronizing the stream (docs/seeds-nccl.md).
///
/// The destructor ends it: it waits for an operation in progress,
/// calls ncclCommFinalize, waits (non-blocking communicators) until NCCL reports it quiescent,
/// then ncclCommDestroy; a communicator that is broken, or not quiescent within `timeout_s` (the
/// timeout it was made with), is aborted (ncclCommAbort) instead. It never throws. Move-only.
class MPINIT_API NcclComm {
 public:
  NcclComm() = default;
  /// Adopts `comm`: this object will end it as above, within `timeout_s`.
  NcclComm(nccl_comm_t comm, int rank, int size, double timeout_s = 300)
      : comm_(comm), rank_(rank), size_(size), timeout_s_(timeout_s) {}
  NcclComm(NcclComm&& o) noexcept
      : comm_(o.comm_), rank_(o.rank_), size_(o.size_), timeout_s_(o.timeout_s_) {
    o.comm_ = nullptr, o.rank_ = -1, o.size_ = 0;
  }
  NcclComm& operator=(NcclComm&& o) noexcept;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  ~NcclComm();

  nccl_comm_t get() const noexcept { return comm_; }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return comm_ != nullptr; }
  /// Throws Error(nccl) if NCCL reports an asynchronous error on this communicator.
  void check() const;
  /// Waits until the last NCCL call on this communicator is no longer in progress (polling
  /// ncclCommGetAsyncError), for at most `timeout_s` seconds. Throws Error(nccl), naming the NCCL
  /// rank and the host, when NCCL reports an error or the call is still in progress at the
  /// timeout; the communicator is then left as it is (abort() it, or let the destructor). An
  /// empty NcclComm returns at once.
  void wait(double timeout_s) const;
  /// wait() within the timeout the communicator was made with (MPINIT_NCCL_TIMEOUT).
  void wait() const { wait(timeout_s_); }
  /// ncclCommAbort: for a communicator that can no longer be trusted.
  void abort() noexcept;

 private:
  void end() noexcept;  // finalize and destroy, or abort (the destructor's work)

  nccl_comm_t comm_ = nullptr;
  int rank_ = -1, size_ = 0;
  double timeout_s_ = 300;
};

/// The NCCL twin of an MPI communicator: the same ranks in the same order. Collective over
/// `comm` (the MPI traffic runs on mpinit's private duplicate of it, see nccl_unique_ids). Each
/// rank must have selected its GPU first (launch() does). If a rank fails or is not ready within
/// the timeout, every rank aborts and throws the same Error naming those ranks.
MPINIT_API NcclComm nccl_comm_for(MPI_Comm comm, const NcclOptions& options = {});

/// ncclCommSplit of `parent`, whose ranks are those of `parent_mpi` (collective over it; the
/// agreement runs on mpinit's private duplicate of it); `color` NCCL_SPLIT_NOCOLOR (-1) leaves a
/// rank out (it gets an empty NcclComm). An empty `parent` on any rank fails every rank alike.
MPINIT_API NcclComm nccl_split(const NcclComm& parent, MPI_Comm parent_mpi, int color, int key, const NcclOptions& options = {});

}  // namespace v2
}  // namespace mpinit
