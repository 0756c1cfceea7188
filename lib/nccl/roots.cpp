// NCCL bootstrap logic that needs no NCCL: root assignment, waiting with a timeout, the teardown
// decision.
#include <string>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/nccl.hpp"
#include "nccl/wait.hpp"

namespace mpinit::detail {

std::vector<int> nccl_roots(int nranks, int ranks_per_root) {
  if (ranks_per_root < 1)
    throw Error(Errc::invalid_setting, "ranks per NCCL root must be at least 1 (got " + std::to_string(ranks_per_root) + ")");
  if (nranks < 1) throw Error(Errc::invalid_setting, "an NCCL communicator needs at least 1 rank");
  const int n = (nranks + ranks_per_root - 1) / ranks_per_root;
  std::vector<int> roots(n);
  for (int i = 0; i < n; ++i) roots[i] = static_cast<int>(1LL * i * nranks / n);
  return roots;
}

WaitResult wait_for(const std::function<int()>& poll, int success, int in_progress, double timeout_s,
                    const std::function<double()>& now, const std::function<void()>& pause, int* last) {
  const double start = now();
  while (true) {
    int code = poll();
    if (last) *last = code;
    if (code == success) return WaitResult::ready;
    if (code != in_progress) return WaitResult::failed;
    if (now() - start >= timeout_s) return WaitResult::timed_out;
    pause();
  }
}

}  // namespace mpinit::detail

namespace mpinit::detail {

Teardown teardown(const std::function<int()>& state, const std::function<int()>& finalize, int success,
                  int in_progress, double timeout_s, const std::function<double()>& now,
                  const std::function<void()>& pause) {
  const double start = now();
  if (wait_for(state, success, in_progress, timeout_s, now, pause, nullptr) != WaitResult::ready)
    return Teardown::abort;
  const int rc = finalize();
  if (rc != success && rc != in_progress) return Teardown::abort;
  const double left = timeout_s - (now() - start);
  return wait_for(state, success, in_progress, left, now, pause, nullptr) == WaitResult::ready ? Teardown::destroy
                                                                                                : Teardown::abort;
}

}  // namespace mpinit::detail
