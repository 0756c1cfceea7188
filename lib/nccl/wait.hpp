// NCCL bootstrap logic that needs no NCCL: which ranks make unique ids, waiting for a
// non-blocking operation with a timeout, and how a communicator ends (tested with a fake poll
// where no GPU exists). Internal.
#pragma once

#include <functional>
#include <vector>

namespace mpinit::detail {

/// Which ranks of a communicator of `nranks` create unique ids: n = ceil(nranks / ranks_per_root)
/// roots, root i at rank i * nranks / n (spread out, the first rank of each block). One root
/// (rank 0) up to ranks_per_root ranks. Pure. Throws Error(invalid_setting) for ranks_per_root < 1.
std::vector<int> nccl_roots(int nranks, int ranks_per_root);

enum class WaitResult { ready, failed, timed_out };

/// Calls `poll` until it returns something other than `in_progress` (ready when `success`),
/// or until `now()` has advanced by `timeout_s`; `pause()` between polls. `last` receives the
/// last polled code.
WaitResult wait_for(const std::function<int()>& poll, int success, int in_progress, double timeout_s,
                    const std::function<double()>& now, const std::function<void()>& pause, int* last);

/// How an NCCL communicator ends.
enum class Teardown {
  destroy,  ///< it finalized cleanly: ncclCommDestroy
  abort,    ///< it is broken, or did not finalize within the time: ncclCommAbort
};

/// The teardown decision of ~NcclComm, over NCCL's result codes: `state` polls the communicator
/// (ncclCommGetAsyncError: its return code when that fails, else the state it reports),
/// `finalize` calls ncclCommFinalize once. First wait while an earlier operation is in progress;
/// broken, it is aborted without finalizing. Then finalize: a blocking communicator returns
/// success, a non-blocking one in_progress, and then the state is polled until it is no longer
/// in progress. Success: destroy; anything else (an error, or still in progress when `timeout_s`
/// has passed since the start, the one budget for both waits): abort.
Teardown teardown(const std::function<int()>& state, const std::function<int()>& finalize, int success,
                  int in_progress, double timeout_s, const std::function<double()>& now,
                  const std::function<void()>& pause);

}  // namespace mpinit::detail
