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
MPINIT_API std::vector<NcclId> nccl_unique_ids(MPI_Comm comm, int ranks_per_root);

/// An NCCL communicator, owned: the destructor finalizes and destroys it (aborts it if it is
/// broken); it never throws. Move-only.
class MPINIT_API NcclComm {
 public:
  NcclComm() = default;
  NcclComm(nccl_comm_t comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  NcclComm(NcclComm&& o) noexcept : comm_(o.comm_), rank_(o.rank_), size_(o.size_) { o.comm_ = nullptr; }
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
  /// ncclCommAbort: for a communicator that can no longer be trusted.
  void abort() noexcept;

 private:
  nccl_comm_t comm_ = nullptr;
  int rank_ = -1, size_ = 0;
};

/// The NCCL twin of an MPI communicator: the same ranks in the same order. Collective over
/// `comm`. Each rank must have selected its GPU first (launch() does). If a rank fails or is not
/// ready within the timeout, every rank aborts and throws the same Error naming those ranks.
MPINIT_API NcclComm nccl_comm_for(MPI_Comm comm, const NcclOptions& options = {});

/// ncclCommSplit of `parent`, whose ranks are those of `parent_mpi` (collective over it);
/// `color` NCCL_SPLIT_NOCOLOR (-1) leaves a rank out (it gets an empty NcclComm).
MPINIT_API NcclComm nccl_split(const NcclComm& parent, MPI_Comm parent_mpi, int color, int key, const NcclOptions& options = {});

}  // namespace v2
}  // namespace mpinit
