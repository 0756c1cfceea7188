// Public loaders: hwloc when built with it, a clear error when not.
#include "mpinit/error.hpp"
#include "mpinit/features.hpp"
#include "mpinit/topology.hpp"
#if MPINIT_HAVE_HWLOC
#include "hw/topology.hpp"
#endif

namespace mpinit {
inline namespace v2 {

NodeTopology load_topology(const std::string& xml_file, const std::string& allowed_cpus) {
#if MPINIT_HAVE_HWLOC
  std::vector<int> allowed = allowed_cpus.empty() ? std::vector<int>{} : parse_cpus("allowed CPUs", allowed_cpus);
  return detail::inventory(detail::HwlocTopology::from_file(xml_file, allowed),
                           allowed.empty() ? xml_file : xml_file + " restricted to CPUs " + allowed_cpus);
#else
  (void)allowed_cpus;
  throw Error(Errc::not_built, "mpinit was built without hwloc: cannot read the topology '" + xml_file + "'");
#endif
}

NodeTopology discover_topology() {
#if MPINIT_HAVE_HWLOC
  return detail::inventory(detail::HwlocTopology::discover(), "discovered");
#else
  throw Error(Errc::not_built, "mpinit was built without hwloc: cannot discover the topology");
#endif
}

}  // namespace v2
}  // namespace mpinit
