// mpinit's error category and the one "phase failed" message.
#include "mpinit/error.hpp"

#include "core/enum_names.hpp"
#include "core/failure.hpp"

#include <atomic>

// The live agreed Errors (the exception object in flight among them), so that ~Session can tell
// an unwinding that every rank shares from one of this rank alone.
namespace mpinit::detail {
namespace {
std::atomic<int> agreed_alive{0};
}  // namespace
void count_agreed(bool agreed, int d) noexcept {
  if (agreed) agreed_alive.fetch_add(d, std::memory_order_relaxed);
}
}  // namespace mpinit::detail

namespace mpinit {
inline namespace v2 {
using detail::count_agreed;
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mpinit"; }
  std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::invalid_environment: return "invalid launcher environment";
      case Errc::invalid_setting: return "invalid setting";
      case Errc::mpi: return "MPI error";
      case Errc::mismatch: return "MPI and the launcher environment disagree";
      case Errc::not_built: return "feature not built in";
      case Errc::nccl: return "NCCL error";
      case Errc::internal: return "internal error";
      case Errc::system: return "system call failed";
      case Errc::application: return "the application reported a failure";
    }
    return "unknown mpinit error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

Error::Error(const Error& o) noexcept
    : std::runtime_error(o),
      agreed_(o.agreed_),
      code_(o.code_),
      phase_(o.phase_),
      failed_ranks_(o.failed_ranks_),
      failed_count_(o.failed_count_) {
  count_agreed(agreed_, 1);
}
Error::Error(Error&& o) noexcept : Error(static_cast<const Error&>(o)) {}
Error& Error::operator=(const Error& o) noexcept {
  if (this == &o) return *this;
  count_agreed(agreed_, -1);
  std::runtime_error::operator=(o);
  agreed_ = o.agreed_;
  code_ = o.code_;
  phase_ = o.phase_;
  failed_ranks_ = o.failed_ranks_;
  failed_count_ = o.failed_count_;
  count_agreed(agreed_, 1);
  return *this;
}
Error& Error::operator=(Error&& o) noexcept { return *this = static_cast<const Error&>(o); }
Error::~Error() { count_agreed(agreed_, -1); }

}  // namespace v2
}  // namespace mpinit

namespace mpinit::detail {

Error ErrorAccess::agreed(Error e) {
  e.agreed_ = true;
  count_agreed(true, 1);
  return e;
}

int agreed_errors_alive() noexcept { return agreed_alive.load(std::memory_order_relaxed); }

std::string raised_on(const std::string& rank, const std::string& host) {
  return " (raised by mpinit::launch on rank " + rank + ", " + host + ")";
}

std::string phase_failed(const std::string& phase, const std::string& cause, int failed, int size,
                         const std::vector<int>& ranks) {
  if (size <= 0) return "mpinit: phase '" + phase + "' failed: " + cause;
  std::string list;
  for (size_t k = 0; k < ranks.size(); ++k) list += (k ? ", " : "") + std::to_string(ranks[k]);
  if (failed > static_cast<int>(ranks.size())) list += " and " + std::to_string(failed - ranks.size()) + " more";
  return "mpinit: phase '" + phase + "' failed on " + std::to_string(failed) + " of " + std::to_string(size) +
         (size == 1 ? " rank" : " ranks") + " (" + (ranks.size() == 1 ? "rank " : "ranks ") + list + "): " + cause;
}

Error lone_failure(Errc code, const std::string& phase, const std::string& cause, const std::string& rank,
                   const std::string& host) {
  return Error(code, phase_failed(phase, cause + raised_on(rank, host)), phase, {}, 1);
}

}  // namespace mpinit::detail
