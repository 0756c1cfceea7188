// What the communication libraries read to choose a NIC: NCCL's and UCX's variables.
#include <string>
#include <utility>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

std::vector<std::pair<std::string, std::string>> net_exports(const Nic& nic) {
  const bool rdma = nic.kind == "infiniband" || nic.kind == "roce" || nic.kind == "efa" || nic.kind == "omnipath" ||
                    nic.kind == "rdma";
  if (rdma) {
    // NCCL's "=" prefix asks for this exact device, not every device starting with the name; the
    // port is the device's ACTIVE one (port 1 where hwloc reports none).
    const std::string dev = nic.name + ":" + std::to_string(nic.port > 0 ? nic.port : 1);
    return {{"NCCL_IB_HCA", "=" + dev}, {"UCX_NET_DEVICES", dev}};
  }
  return {{"NCCL_SOCKET_IFNAME", "=" + nic.name}, {"UCX_NET_DEVICES", nic.name}};
}

}  // namespace v2
}  // namespace mpinit
