// Strict parsing of numbers from outside input, and a small hash. Internal.
#pragma once

#include <cstdint>
#include <string>

#include "mpinit/error.hpp"

namespace mpinit::detail {

/// Strict integer parse of variable `name` = `value`: the whole string must be a decimal
/// integer in [min, max]. Throws Error(code) "NAME='value' is not an integer" and the like.
int parse_int(const std::string& name, const std::string& value, long min, long max,
              Errc code = Errc::invalid_environment);

/// FNV-1a, 64 bits: a stable hash of a name (a host name, a seed stream).
inline std::uint64_t fnv1a(const std::string& s) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace mpinit::detail
