// Placement on a live node: the topology loaded once per node and shared, the plan, its
// application. Internal; collective over the node communicator where one is given.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "mpinit/log.hpp"
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

/// Load the node's topology. With a node communicator, local rank 0 discovers it (or reads
/// `file`), exports XML and broadcasts it; the others import it. When the leader fails, the
/// others return without a topology (no local error): the phase agreement carries the leader's
/// error. With MPI_COMM_NULL (env-only), this rank loads it itself.
/// `file` names its setting in its source ("MPINIT_TOPOLOGY"), for messages.
void load_node(MPI_Comm local, const Sourced<std::string>& file, NodeState& out);

/// Each local rank's visible-GPU list, exchanged over `local` (O(local size)); a bad list
/// throws on the rank that holds it only, after the exchange. Returns the request's lists.
std::vector<std::vector<int>> visible_lists(MPI_Comm local, int local_size, const NodeTopology& node,
                                            const EnvMap& env, std::string* source);

/// Apply this rank's plan: the NIC exports (MPINIT_EXPORT_NET, never over a variable set in
/// `env`), CPU (and memory) binding, then the CUDA device by PCI bus id. Returns what was done,
/// for the log. Throws Error naming the call on failure.
std::string apply_plan(const NodeState& st, const RankPlan& plan, const Settings& settings, const Logger& log,
                       const EnvMap& env);

}  // namespace mpinit::detail
