// NCCL bootstrap logic that needs no NCCL: which ranks make unique ids, and waiting for a
// non-blocking operation with a timeout (tested with a fake poll where no GPU exists). Internal.
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

}  // namespace mpinit::detail
