// What the communication libraries read to choose a NIC: NCCL's and UCX's variables.
#include <string>
#include <utility>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

std::vector<std::pair<std::string, std::string>> net_exports(const Nic& nic, NetExport which) {
  std::vector<std::pair<std::string, std::string>> out;
  if (which == NetExport::off) return out;
  const bool rdma = nic.kind == "infiniband" || nic.kind == "roce" || nic.kind == "efa" || nic.kind == "omnipath" ||
                    nic.kind == "rdma";
  // The device's ACTIVE port (port 1 where hwloc reports none).
  const std::string port = nic.name + ":" + std::to_string(nic.port > 0 ? nic.port : 1);
  // MPI's transports, read once, in MPI_Init: UCX (Open MPI's pml/ucx, MPICH's ch4:ucx) and
  // Open MPI's own BTLs. libfabric's providers choose devices by their own names (cxi0, not
  // hsn0), so nothing is set for them.
  if (rdma) {
    out.push_back({"UCX_NET_DEVICES", port});
    out.push_back({"OMPI_MCA_btl_openib_if_include", port});
  } else {
    out.push_back({"UCX_NET_DEVICES", nic.name});
    out.push_back({"OMPI_MCA_btl_tcp_if_include", nic.name});
  }
  if (which == NetExport::all) {
    // NCCL's "=" prefix asks for this exact device, not every device starting with the name.
    if (rdma)
      out.push_back({"NCCL_IB_HCA", "=" + port});
    else
      out.push_back({"NCCL_SOCKET_IFNAME", "=" + nic.name});
  }
  return out;
}

}  // namespace v2
}  // namespace mpinit
