// The process's surroundings: its host name (process_env() is public, in env.hpp). Internal.
#pragma once

#include <string>

namespace mpinit::detail {

/// The short host name of this machine (gethostname), "unknown-host" if it cannot be read.
std::string hostname();

}  // namespace mpinit::detail
