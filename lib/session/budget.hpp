// One time budget for the whole start-up (MPINIT_LAUNCH_TIMEOUT), NCCL's init included. Pure;
// internal to the library.
#pragma once

#include <algorithm>
#include <chrono>

namespace mpinit::detail {

using BudgetClock = std::chrono::steady_clock;

/// What launch() keeps, out of a launch budget of `launch_timeout_s`, for what follows NCCL's
/// wait inside it: ncclCommAbort, the agreement on the outcome and the error it raises, all before
/// the watchdog fires. A quarter of the budget, at most 15 s.
inline std::chrono::milliseconds nccl_margin(int launch_timeout_s) {
  return std::chrono::milliseconds(std::min<long long>(15000, launch_timeout_s * 1000LL / 4));
}

/// When NCCL's wait inside launch() must end: the launch budget from `start`, less nccl_margin();
/// time_point::max() when there is no launch budget (MPINIT_LAUNCH_TIMEOUT=0).
inline BudgetClock::time_point nccl_deadline(BudgetClock::time_point start, int launch_timeout_s) {
  if (launch_timeout_s <= 0) return BudgetClock::time_point::max();
  return start + std::chrono::seconds(launch_timeout_s) - nccl_margin(launch_timeout_s);
}

/// How long NCCL's init may wait: MPINIT_NCCL_TIMEOUT (`nccl_timeout_s`), or what is left until
/// `deadline` (nccl_deadline()) when that is shorter (never below 0: an init that starts past it
/// is polled once, then aborted, and the ranks agree on the timeout). `by_launch` says which.
struct NcclWait {
  double seconds = 0;
  bool by_launch = false;
};
inline NcclWait nccl_wait_budget(BudgetClock::time_point now, BudgetClock::time_point deadline, double nccl_timeout_s) {
  if (deadline == BudgetClock::time_point::max()) return {nccl_timeout_s, false};
  const double left = std::max(0.0, std::chrono::duration<double>(deadline - now).count());
  if (left < nccl_timeout_s) return {left, true};
  return {nccl_timeout_s, false};
}

}  // namespace mpinit::detail
