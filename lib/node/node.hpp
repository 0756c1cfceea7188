// Placement on a live node: the topology loaded once per node and shared, the plan, its
// application. Internal; collective over the node communicator where one is given.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "mpinit/log.hpp"
#include "node/share.hpp"
#include "mpinit/settings.hpp"
#include "mpinit/topology.hpp"

namespace mpinit::detail {

class HwlocTopology;

/// The node's topology as this rank holds it.
struct NodeState {
  std::shared_ptr<HwlocTopology> hwloc;  ///< null when built without hwloc or placement is off
  NodeTopology node;
  bool discovered = false;   ///< this rank ran the discovery (or read the file)
  bool this_system = false;  ///< the topology is this machine's (binding is possible)
};

/// How the node's topology is loaded.
struct LoadRequest {
  Sourced<std::string> file;  ///< MPINIT_TOPOLOGY ("" and "default": this machine), its source for messages
  bool rebind = false;        ///< MPINIT_REBIND: plan on the whole allowed set, not a binding the process started with
};

/// Load the node's topology over MPI. With a node communicator, local rank 0 discovers it (or
/// reads the file), exports XML and broadcasts it; the others import it, each with its own
/// allowed CPUs. When the leader fails, the others return without a topology (no local error):
/// the phase agreement carries the leader's error. With MPI_COMM_NULL, this rank loads it itself.
void load_node(MPI_Comm local, const LoadRequest& req, NodeState& out, const Logger& log);

/// Load the node's topology without MPI (before MPI_Init, env-only mode): the leader of `share`
/// (local rank 0) loads and publishes it, the others import what it published; no share: this
/// rank alone. Returns false when the leader failed; `leader_error` is then its message.
/// `guessed`: the share's key is a guess; a follower that finds nothing within kGuessedKeyWait
/// discovers the topology itself.
bool load_node_shared(NodeShare* share, bool leader, const LoadRequest& req, NodeState& out, const Logger& log,
                      Deadline deadline, const std::string& timeout_setting, std::string* leader_error,
                      bool guessed = false);

/// Each local rank's visible-GPU list, exchanged over `local` (O(local size)); a bad list
/// throws on the rank that holds it only, after the exchange. Returns the request's lists.
std::vector<std::vector<int>> visible_lists(MPI_Comm local, int local_size, const NodeTopology& node,
                                            const EnvMap& env, std::string* source);

/// Apply this rank's plan: the NIC exports (MPINIT_EXPORT_NET, never over a variable set in
/// `env` by the user; a variable this process set itself in an earlier apply is replaced), CPU
/// (and memory) binding, then the CUDA device by PCI bus id. Returns what was done, for the log.
/// Throws Error naming the call on failure.
std::string apply_plan(const NodeState& st, const RankPlan& plan, const Settings& settings, const Logger& log,
                       const EnvMap& env);

}  // namespace mpinit::detail
