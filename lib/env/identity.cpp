// Identity from the launcher environment alone (env-only mode, and before MPI_Init).
#include <unistd.h>

#include <climits>
#include <string>

#include "mpinit/identity.hpp"

namespace mpinit {
inline namespace v1 {

std::string hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

Identity identity_from_env(const LaunchEnv& env, const std::string& host) {
  Identity id;
  id.host = host;
  id.launcher = env.launcher;
  if (env.launcher == Launcher::none) {
    const std::string src = "default (no launcher)";
    id.rank = {0, src};
    id.size = {1, src};
    id.local_rank = {0, src};
    id.local_size = {1, src};
    id.node_rank = {0, src};
    id.node_count = {1, src};
    return id;
  }
  auto pick = [](const std::optional<Sourced<int>>& v) { return v ? *v : Sourced<int>{-1, "unknown"}; };
  id.rank = pick(env.rank);
  id.size = pick(env.size);
  id.local_rank = pick(env.local_rank);
  id.local_size = pick(env.local_size);
  id.node_rank = pick(env.node_rank);
  id.node_count = pick(env.node_count);
  // One node in all: the node is known, and every rank is on it.
  if (id.node_count.value == 1 && id.node_rank.value < 0) id.node_rank = {0, id.node_count.source};
  if (id.node_count.value == 1 && id.local_size.value < 0 && id.size.value > 0)
    id.local_size = {id.size.value, id.size.source + " (one node)"};
  if (id.node_count.value == 1 && id.local_rank.value < 0 && id.rank.value >= 0)
    id.local_rank = {id.rank.value, id.rank.source + " (one node)"};
  return id;
}

}  // namespace v1
}  // namespace mpinit
