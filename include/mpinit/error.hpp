// Errors raised by mpinit: one type, a code, and a message that names the input and the rule.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace mpinit {
inline namespace v1 {

/// What kind of failure an Error reports.
enum class Errc {
  invalid_environment = 1,  ///< a launcher variable is malformed, out of range or inconsistent
  invalid_setting,          ///< an MPINIT_* variable or an option has a bad value
  mpi,                      ///< an MPI call failed or MPI is in the wrong state
  mismatch,                 ///< MPI and the launcher's environment disagree (by setting)
  not_built,                ///< the feature asked for was not built in
  nccl,                     ///< NCCL failed, timed out, or reported an asynchronous error
  internal,                 ///< a bug in mpinit
};

/// Short lowercase name of a code ("invalid_environment", ...).
const char* errc_name(Errc code) noexcept;

/// The one exception type mpinit throws. After launch() has agreed on a failure, every rank
/// holds an Error with the same message, naming the phase, the failing rank(s) and their host.
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Error(Errc code, const std::string& message, std::string phase, std::vector<int> failed_ranks,
        int failed_count)
      : std::runtime_error(message),
        code_(code),
        phase_(std::move(phase)),
        failed_ranks_(std::move(failed_ranks)),
        failed_count_(failed_count) {}

  Errc code() const noexcept { return code_; }
  /// The launch phase that failed ("" when raised outside launch()).
  const std::string& phase() const noexcept { return phase_; }
  /// The lowest failing ranks (at most a few: the list is bounded so the agreement stays O(1)).
  const std::vector<int>& failed_ranks() const noexcept { return failed_ranks_; }
  /// How many ranks failed in all.
  int failed_count() const noexcept { return failed_count_; }

 private:
  Errc code_;
  std::string phase_;
  std::vector<int> failed_ranks_;
  int failed_count_ = 0;
};

}  // namespace v1
}  // namespace mpinit
