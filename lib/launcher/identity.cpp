// Identity from the launcher environment alone (env-only mode, and before MPI_Init).
#include <string>

#include "mpinit/env.hpp"

namespace mpinit {
inline namespace v2 {

Identity identity_from_env(const LaunchEnv& env, const std::string& host) {
  Identity id;
  id.host = host;
  id.launcher = env.launcher;
  if (env.launcher == Launcher::none) {
    const std::string src = "default (no launcher)";
    id.rank = 0, id.size = 1, id.local_rank = 0, id.local_size = 1, id.node_rank = 0, id.node_count = 1;
    id.sources = {src, src, src, src, src, src};
    return id;
  }
  id.rank = env.rank, id.size = env.size, id.local_rank = env.local_rank, id.local_size = env.local_size;
  id.node_rank = env.node_rank, id.node_count = env.node_count;
  id.sources = env.sources;
  Sources& src = id.sources;
  // One node in all: the node is known, and every rank is on it.
  if (id.node_count == 1 && id.node_rank == kUnknown) id.node_rank = 0, src.node_rank = src.node_count;
  if (id.node_count == 1 && id.local_size == kUnknown && id.size > 0)
    id.local_size = id.size, src.local_size = src.size + " (one node)";
  if (id.node_count == 1 && id.local_rank == kUnknown && id.rank >= 0)
    id.local_rank = id.rank, src.local_rank = src.rank + " (one node)";
  return id;
}

}  // namespace v2
}  // namespace mpinit
