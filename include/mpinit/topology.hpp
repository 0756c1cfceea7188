// A node's topology as plain data (what placement needs of it), and the pure placement planner.
// Nothing here depends on hwloc: lib/topo turns an hwloc topology into a NodeTopology.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mpinit/enums.hpp"
#include "mpinit/env.hpp"
#include "mpinit/export.hpp"

namespace mpinit {
inline namespace v2 {

/// A core and its processing units (hardware threads), by OS index.
struct Core {
  int index = -1;         ///< logical index among the node's cores
  std::vector<int> pus;   ///< OS indices of its PUs that the process may use
  int numa = -1;          ///< OS index of its NUMA node (-1: none)
  int package = -1;       ///< logical index of its package (-1: none)
};

/// Where a PCI device hangs.
struct Locality {
  std::string busid;              ///< "0000:1b:00.0"
  std::vector<unsigned> bridges;  ///< ids of the PCI bridges above it, host bridge first
  unsigned ancestor = 0;          ///< id of its nearest non-I/O ancestor (an L3, NUMA node, package...)
  std::string ancestor_type;      ///< "L3Cache", "NUMANode", "Package", "Group", "Machine"...
  std::vector<int> pus;           ///< the ancestor's PUs (OS indices) that the process may use
  std::vector<int> numa;          ///< OS indices of the ancestor's NUMA nodes
  int package = -1;               ///< logical index of the package above it (-1: none)
};

struct Gpu {
  std::string name;              ///< its preferred OS device ("cuda1", "rsmi4") or "pci:<busid>"
  std::vector<std::string> osdevs;  ///< every OS device naming it (cuda1, nvml1, opencl0d1)
  std::string vendor;            ///< "nvidia", "amd" or "other"
  int physical = -1;             ///< the index CUDA/ROCm and Slurm use (cudaN, rsmiN, or PCI order)
  int partition = 0;             ///< 0.. among GPUs that share one PCI bus id (MI300A CPX)
  std::string uuid;              ///< as hwloc reports it, if it does
  Locality loc;
};

struct Nic {
  std::string name;                 ///< "mlx5_0", "hsi1", "rdmap197s0", "eth0"
  std::vector<std::string> osdevs;  ///< every OS device of it ("mlx5_0", "ib0")
  std::string kind;                 ///< infiniband, roce, efa, omnipath, slingshot, rdma, ipoib, ethernet
  bool fabric = false;              ///< an RDMA or Slingshot fabric NIC (wins over plain Ethernet)
  double link_gbps = 0;             ///< PCI link speed hwloc reports, GB/s (0: unknown)
  /// Usable: one of its ports is ACTIVE (hwloc's PortNState info of an OpenFabrics device is 4),
  /// or no port state is reported (Ethernet and Slingshot netdevs, files without it). A NIC
  /// whose every port is DOWN, INIT, ARMED or ACTIVE_DEFER is not: the plan takes it only when
  /// no NIC is up and no Ethernet NIC exists.
  bool up = true;
  /// The port an export names (`mlx5_0:2`, 1-based as PortNState counts): the first ACTIVE one;
  /// 1 for an OpenFabrics device with no ACTIVE port; 0 where none is reported (netdevs), which
  /// net_exports names as port 1.
  int port = 0;
  Locality loc;
};

/// What placement needs to know about one node.
struct NodeTopology {
  std::vector<Core> cores;  ///< cores with at least one allowed PU, in topology order
  std::vector<int> numa;    ///< OS indices of NUMA nodes
  std::vector<Gpu> gpus;    ///< in topology order: package, NUMA node, PCI bus id, partition
  std::vector<Nic> nics;    ///< physical NICs only (no loopback, virtual or bridge interfaces)
  std::string origin;       ///< "discovered", "imported from the local leader", or the file name
};


/// Input of the planner beyond the topology.
struct PlanRequest {
  int local_size = 1;
  GpuPolicy policy = GpuPolicy::spread;
  /// Visible GPUs as indices into NodeTopology::gpus, in the order of the visible list (so a
  /// rank's device ordinal is the position). Empty: every GPU, in topology order. One list:
  /// the same for every rank. local_size lists: one per local rank (a launcher that narrowed
  /// CUDA_VISIBLE_DEVICES per task).
  std::vector<std::vector<int>> visible;
  /// Where the visible lists came from, for messages ("CUDA_VISIBLE_DEVICES").
  std::string visible_source;
  /// More local ranks than allowed cores: share cores (true) or fail (false).
  bool oversubscribe = true;
};

/// One local rank's plan.
struct RankPlan {
  int local_rank = 0;
  std::vector<int> gpus;       ///< indices into NodeTopology::gpus (empty: no GPU)
  std::vector<int> ordinals;   ///< the same GPUs as positions in the rank's visible list
  int nic = -1;                ///< index into NodeTopology::nics (-1: none)
  std::vector<int> cpus;       ///< PU OS indices, whole cores
  std::vector<int> numa;       ///< NUMA nodes of those cpus
  std::string reason;          ///< why, in words
};

struct Placement {
  std::vector<RankPlan> ranks;
  std::vector<std::string> notes;
};

/// Plan every local rank's GPU(s), NIC and CPU set. Pure and deterministic.
/// Throws Error(invalid_setting) for an impossible request (exclusive with too few GPUs).
MPINIT_API Placement plan_placement(const NodeTopology& topo, const PlanRequest& req);

/// Resolve a visible-device list (CUDA_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES
/// value: indices, or UUIDs / unique prefixes of them) into indices of topo.gpus, in list order.
/// Only GPUs of `vendor` ("nvidia", "amd", or "" for any) are matched. Throws
/// Error(invalid_environment) naming the variable, the entry and the GPUs that exist.
MPINIT_API std::vector<int> resolve_visible(const NodeTopology& topo, const std::string& var, const std::string& value,
                                 const std::string& vendor);

/// The visible-GPU list of this process from its environment: CUDA_VISIBLE_DEVICES for NVIDIA
/// GPUs, ROCR_VISIBLE_DEVICES then HIP_VISIBLE_DEVICES for AMD. nullopt when none is set.
/// `source` receives the variable's name.
MPINIT_API std::optional<std::vector<int>> visible_from_env(const NodeTopology& topo, const EnvMap& env, std::string* source);

/// Read an hwloc XML file into a NodeTopology. Throws Error naming the file when it cannot be read
/// or is not a topology, and Error(not_built) when mpinit was built without hwloc.
/// `allowed_cpus` ("0-39,80-119", empty: the file's own allowed set) restricts the CPUs the
/// plan may use, as a cgroup or a Slurm job cpuset would.
MPINIT_API NodeTopology load_topology(const std::string& xml_file, const std::string& allowed_cpus = "");

/// Discover this machine's topology (what one rank per node does during launch()).
MPINIT_API NodeTopology discover_topology();

/// The variables that point the communication libraries at `nic` (pure). `mpi`: MPI's transports,
/// UCX_NET_DEVICES and OMPI_MCA_btl_openib_if_include=<dev>:<port> for an RDMA device (its ACTIVE
/// port, Nic::port; 1 when none is known), UCX_NET_DEVICES and OMPI_MCA_btl_tcp_if_include=<netdev>
/// for a network interface. `all`: also NCCL's, NCCL_IB_HCA==<dev>:<port> or
/// NCCL_SOCKET_IFNAME==<netdev>. `off`: none.
MPINIT_API std::vector<std::pair<std::string, std::string>> net_exports(const Nic& nic, NetExport which);

/// "0-3,8,10-11" -> 0 1 2 3 8 10 11. Throws Error(invalid_setting) naming `what` and the value.
MPINIT_API std::vector<int> parse_cpus(const std::string& what, const std::string& list);

/// "0-3,8,10-11".
MPINIT_API std::string format_cpus(const std::vector<int>& cpus);

}  // namespace v2
}  // namespace mpinit
