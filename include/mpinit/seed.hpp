// Agreed random seeds: one global seed for the job, and per-rank (and per-stream) seeds derived
// from it deterministically. Pure functions; the Session agrees on the global seed over MPI.
#pragma once

#include <cstdint>
#include <string>

#include "mpinit/export.hpp"

namespace mpinit {
inline namespace v2 {

/// The default global seed (ColossalAI's).
constexpr std::uint64_t kDefaultSeed = 1024;

/// The seed of `rank` for the purpose `stream` ("" for the rank's main seed), derived from the
/// global seed: SplitMix64's finalizer over (global, stream hash, rank), so seeds of different ranks and streams
/// do not collide the way `seed + rank` does (rank 1's seed is not rank 0's next stream's).
MPINIT_API std::uint64_t derive_seed(std::uint64_t global, int rank, const std::string& stream = "");

/// Parse a seed setting: a decimal unsigned 64-bit integer, or "random". Throws
/// Error(invalid_setting) naming `what` and the value. Returns nullopt-like `random` via the flag.
struct SeedSetting {
  bool random = false;
  std::uint64_t value = kDefaultSeed;
};
MPINIT_API SeedSetting parse_seed(const std::string& what, const std::string& value);

}  // namespace v2
}  // namespace mpinit
