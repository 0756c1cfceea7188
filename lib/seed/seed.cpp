// Seeds derived from the agreed global seed (seed.hpp).
#include "mpinit/seed.hpp"

#include <cerrno>
#include <cstdlib>

#include "core/parse.hpp"
#include "mpinit/error.hpp"
#include "seed/mix.hpp"

namespace mpinit::detail {

std::uint64_t mix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace mpinit::detail

namespace mpinit {
inline namespace v2 {

std::uint64_t derive_seed(std::uint64_t global, int rank, const std::string& stream) {
  using detail::mix64;
  std::uint64_t s = mix64(global);
  s = mix64(s ^ detail::fnv1a(stream));
  return mix64(s ^ static_cast<std::uint64_t>(static_cast<std::uint32_t>(rank)));
}

SeedSetting parse_seed(const std::string& what, const std::string& value) {
  if (value == "random") return {true, 0};
  const std::string head = what + "='" + value + "' ";
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
    throw Error(Errc::invalid_setting, head + "is not a seed (a decimal integer from 0 to 2^64-1, or 'random')");
  errno = 0;
  unsigned long long v = std::strtoull(value.c_str(), nullptr, 10);
  if (errno == ERANGE) throw Error(Errc::invalid_setting, head + "is out of range (a seed is at most 2^64-1)");
  return {false, v};
}

}  // namespace v2
}  // namespace mpinit
