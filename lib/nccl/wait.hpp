// Waiting for a non-blocking NCCL operation, with a timeout. Separate from NCCL so that its
// logic is tested with a fake poll where no GPU exists.
#pragma once

#include <functional>

namespace mpinit::detail {

enum class WaitResult { ready, failed, timed_out };

/// Calls `poll` until it returns something other than `in_progress` (ready when `success`),
/// or until `now()` has advanced by `timeout_s`; `pause()` between polls. `last` receives the
/// last polled code.
WaitResult wait_for(const std::function<int()>& poll, int success, int in_progress, double timeout_s,
                    const std::function<double()>& now, const std::function<void()>& pause, int* last);

}  // namespace mpinit::detail
