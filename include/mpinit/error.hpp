// Errors raised by mpinit: one exception type, a code in mpinit's std::error_category, and a
// message that names the input, the rule, the rank and the host.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "mpinit/export.hpp"

namespace mpinit {
namespace detail {
struct ErrorAccess;  // the library's own: marks agreed Errors
}
inline namespace v2 {

/// What kind of failure an Error reports. The values are those of the C API's mpinit_result_t.
enum class Errc {
  invalid_environment = 1,  ///< a launcher variable is malformed, out of range or inconsistent
  invalid_setting,          ///< an MPINIT_* variable, a flag or an option has a bad value
  mpi,                      ///< an MPI call failed or MPI is in the wrong state
  mismatch,                 ///< MPI and the launcher's environment disagree (by setting)
  not_built,                ///< the feature asked for was not built in
  nccl,                     ///< NCCL failed, timed out, or reported an asynchronous error
  internal,                 ///< a bug in mpinit
  system = 9,               ///< an operating-system, hwloc or CUDA call failed (binding, cudaSetDevice, a socket)
  application,              ///< a failure the caller reported through Session::agree
};

/// Lowercase name of a code ("invalid_environment", ...); "?" outside the enum.
MPINIT_API const char* to_string(Errc code) noexcept;
/// The code named `name`: true and `out` set, or false.
MPINIT_API bool from_string(std::string_view name, Errc& out) noexcept;

/// mpinit's error category ("mpinit"): std::error_code{Errc::mpi} compares equal to Errc::mpi,
/// and its message() is a short description of the code.
MPINIT_API const std::error_category& error_category() noexcept;
inline std::error_code make_error_code(Errc code) noexcept { return {static_cast<int>(code), error_category()}; }

/// The one exception type mpinit throws. After launch() has agreed on a failure, every rank
/// holds an Error with the same message, naming the phase, the failing rank(s) and their host.
class MPINIT_API Error : public std::runtime_error {
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
  /// The code as a std::error_code of error_category().
  std::error_code error_code() const noexcept { return make_error_code(code_); }
  /// The launch phase that failed ("" when raised outside launch()).
  const std::string& phase() const noexcept { return phase_; }
  /// The lowest failing ranks (at most a few: the list is bounded so the agreement stays O(1)).
  const std::vector<int>& failed_ranks() const noexcept { return failed_ranks_; }
  /// How many ranks failed in all.
  int failed_count() const noexcept { return failed_count_; }
  /// True for an Error every rank of the communicator raised together, after an agreement
  /// (launch()'s phases, Session::agree, the NCCL bootstrap). A Session that owns MPI and is
  /// destroyed while such an Error unwinds the stack finalizes MPI as usual; while any other
  /// exception does, it ends the job with MPI_Abort instead (~Session).
  bool agreed() const noexcept { return agreed_; }

  Error(const Error& o) noexcept;
  Error(Error&& o) noexcept;
  Error& operator=(const Error& o) noexcept;
  Error& operator=(Error&& o) noexcept;
  ~Error() override;

 private:
  friend struct mpinit::detail::ErrorAccess;
  bool agreed_ = false;
  Errc code_;
  std::string phase_;
  std::vector<int> failed_ranks_;
  int failed_count_ = 0;
};

}  // namespace v2
}  // namespace mpinit

template <>
struct std::is_error_code_enum<mpinit::Errc> : std::true_type {};
