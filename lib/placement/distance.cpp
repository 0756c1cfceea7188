// How near two PCI devices are (distance.hpp).
#include "placement/distance.hpp"

#include <algorithm>

namespace mpinit::detail {

int pci_distance(const Locality& a, const Locality& b) {
  size_t common = 0;
  while (common < a.bridges.size() && common < b.bridges.size() && a.bridges[common] == b.bridges[common]) ++common;
  if (common >= 2) return 0;
  if (common == 1) return 1;
  if (a.ancestor == b.ancestor) return 2;
  for (int n : a.numa)
    if (std::find(b.numa.begin(), b.numa.end(), n) != b.numa.end()) return 3;
  if (a.package >= 0 && a.package == b.package) return 4;
  return 5;
}

}  // namespace mpinit::detail
