// The launcher layer's internals shared with the session. Internal.
#pragma once

#include <string>

#include "mpinit/env.hpp"

namespace mpinit::detail {

/// For messages only, where neither MPI nor a valid launcher environment can say: the rank a
/// launcher's rank variable gives, if it reads as one; else "?".
std::string rank_for_messages(const EnvMap& env);
/// The same for the local rank and the local size (also where the launcher's variables do not parse).
std::string local_rank_for_messages(const EnvMap& env);
std::string local_size_for_messages(const EnvMap& env);

}  // namespace mpinit::detail
