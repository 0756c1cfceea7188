// The process environment and the host name: the only places the ground layer asks the OS.
#include "core/system.hpp"

#include <unistd.h>

#include <climits>
#include <cstring>

#include "mpinit/env.hpp"

extern char** environ;

namespace mpinit {
inline namespace v2 {

EnvMap process_env() {
  EnvMap env;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env.emplace(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

}  // namespace v2
}  // namespace mpinit

namespace mpinit::detail {

std::string hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

}  // namespace mpinit::detail
