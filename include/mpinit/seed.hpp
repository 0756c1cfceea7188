// Agreed random seeds: one global seed for the job, and per-rank (and per-stream) seeds derived
// from it deterministically. Pure functions; the Session agrees on the global seed over MPI.
#pragma once

#include <cstdint>
#include <string>

namespace mpinit {
inline namespace v1 {

/// The default global seed (ColossalAI's).
constexpr std::uint64_t kDefaultSeed = 1024;

/// A mixing function (SplitMix64's finalizer): a bijection on 64-bit values in which every input
/// bit affects every output bit.
std::uint64_t mix64(std::uint64_t x) noexcept;

/// The seed of `rank` for the purpose `stream` ("" for the rank's main seed), derived from the
/// global seed: mix64 over (global, stream hash, rank), so seeds of different ranks and streams
/// do not collide the way `seed + rank` does (rank 1's seed is not rank 0's next stream's).
std::uint64_t derive_seed(std::uint64_t global, int rank, const std::string& stream = "");

/// Parse a seed setting: a decimal unsigned 64-bit integer, or "random". Throws
/// Error(invalid_setting) naming `what` and the value. Returns nullopt-like `random` via the flag.
struct SeedSetting {
  bool random = false;
  std::uint64_t value = kDefaultSeed;
};
SeedSetting parse_seed(const std::string& what, const std::string& value);

}  // namespace v1
}  // namespace mpinit
