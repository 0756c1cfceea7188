// How near two PCI devices are, for the planner (and its tests). Internal.
#pragma once

#include "mpinit/topology.hpp"

namespace mpinit::detail {

/// How near a NIC is to a GPU: 0 same PCI switch, 1 same host bridge, 2 same non-I/O ancestor,
/// 3 same NUMA node, 4 same package, 5 elsewhere. The planner picks the smallest.
int pci_distance(const Locality& gpu, const Locality& nic);

}  // namespace mpinit::detail
