// The seed mixer, for the seeds and their tests. Internal.
#pragma once

#include <cstdint>

namespace mpinit::detail {

/// SplitMix64's finalizer: a bijection on 64-bit values in which every input bit affects every
/// output bit.
std::uint64_t mix64(std::uint64_t x) noexcept;

}  // namespace mpinit::detail
