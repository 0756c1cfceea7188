#include "mpinit/error.hpp"

namespace mpinit {
inline namespace v1 {

const char* errc_name(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_environment: return "invalid_environment";
    case Errc::invalid_setting: return "invalid_setting";
    case Errc::mpi: return "mpi";
    case Errc::mismatch: return "mismatch";
    case Errc::not_built: return "not_built";
    case Errc::nccl: return "nccl";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

}  // namespace v1
}  // namespace mpinit
