// The hwloc inventory: GPUs, NICs (with their ports' state), cores and their localities, as the
// plain NodeTopology the planner reads.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "hw/topology.hpp"
#include "mpinit/error.hpp"

namespace mpinit::detail {
namespace {

std::string busid(hwloc_obj_t pci) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain, pci->attr->pcidev.bus,
                pci->attr->pcidev.dev, pci->attr->pcidev.func);
  return buf;
}

Locality locality(hwloc_topology_t t, hwloc_obj_t pci) {
  Locality loc;
  loc.busid = busid(pci);
  std::vector<unsigned> up;
  for (hwloc_obj_t p = pci->parent; p && p->type == HWLOC_OBJ_BRIDGE; p = p->parent)
    up.push_back(static_cast<unsigned>(p->gp_index));
  loc.bridges.assign(up.rbegin(), up.rend());
  hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(t, pci);
  loc.ancestor = static_cast<unsigned>(anc->gp_index);
  loc.ancestor_type = hwloc_obj_type_string(anc->type);
  hwloc_bitmap_t allowed = hwloc_bitmap_dup(anc->cpuset);
  hwloc_bitmap_and(allowed, allowed, hwloc_topology_get_allowed_cpuset(t));
  loc.pus = pus_of(allowed);
  hwloc_bitmap_free(allowed);
  loc.numa = pus_of(anc->nodeset);
  if (hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, anc))
    loc.package = static_cast<int>(pkg->logical_index);
  else if (anc->type == HWLOC_OBJ_PACKAGE)
    loc.package = static_cast<int>(anc->logical_index);
  return loc;
}

// The GPU "family" of an OS device, by hwloc subtype or name; "" if it does not name a GPU
// (DRM card/render nodes name any display device, BMC graphics included).
std::string gpu_family(hwloc_obj_t os) {
  std::string sub = os->subtype ? os->subtype : "";
  std::string name = os->name ? os->name : "";
  auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
  if (sub == "CUDA" || starts("cuda")) return "cuda";
  if (sub == "NVML" || starts("nvml")) return "nvml";
  if (sub == "RSMI" || starts("rsmi")) return "rsmi";
  if (sub == "LevelZero" || starts("ze")) return "levelzero";
  if (sub == "OpenCL" || starts("opencl")) return "opencl";
  return "";
}

int trailing_number(const std::string& s) {
  size_t i = s.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) --i;
  return i < s.size() ? std::atoi(s.c_str() + i) : -1;
}

const char* info(hwloc_obj_t o, const char* key) {
  const char* v = hwloc_obj_get_info_by_name(o, key);
  return v ? v : "";
}

std::string vendor_of(hwloc_obj_t pci) {
  switch (pci->attr->pcidev.vendor_id) {
    case 0x10de: return "nvidia";
    case 0x1002: return "amd";
    default: return "other";
  }
}

bool virtual_interface(const std::string& name) {
  for (const char* p : {"lo", "docker", "veth", "virbr", "br-", "tun", "tap", "vnet", "cali", "flannel", "cni"})
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

void add_gpus(hwloc_topology_t t, NodeTopology& node) {
  static const char* families[] = {"cuda", "nvml", "rsmi", "levelzero", "opencl"};
  for (hwloc_obj_t pci = nullptr; (pci = hwloc_get_next_pcidev(t, pci));) {
    std::map<std::string, std::vector<hwloc_obj_t>> fam;
    for (hwloc_obj_t os = pci->io_first_child; os; os = os->next_sibling)
      if (os->type == HWLOC_OBJ_OS_DEVICE && os->name) {  // an XML file may give none
        std::string f = gpu_family(os);
        if (!f.empty()) fam[f].push_back(os);
      }
    size_t n = 0;
    for (auto& [f, v] : fam) {
      std::sort(v.begin(), v.end(), [](hwloc_obj_t a, hwloc_obj_t b) {
        return trailing_number(a->name) < trailing_number(b->name);
      });
      n = std::max(n, v.size());
    }
    if (n == 0) continue;
    // Several OS devices may name one GPU (cuda0, nvml0, opencl0d0); several GPUs may share a
    // PCI device (partitions). The family listing the most devices gives the GPU count.
    const char* primary = nullptr;
    for (const char* f : families)
      if (fam.count(f) && fam[f].size() == n) {
        primary = f;
        break;
      }
    Locality loc = locality(t, pci);
    for (size_t j = 0; j < n; ++j) {
      Gpu g;
      hwloc_obj_t os = fam[primary][j];
      g.name = os->name;
      g.physical = trailing_number(g.name);
      g.partition = static_cast<int>(j);
      g.vendor = vendor_of(pci);
      g.loc = loc;
      for (const char* f : families)
        if (fam.count(f) && fam[f].size() == n) {
          g.osdevs.push_back(fam[f][j]->name);
          for (const char* key : {"NVIDIAUUID", "AMDUUID", "LevelZeroUUID"})
            if (g.uuid.empty() && *info(fam[f][j], key)) g.uuid = info(fam[f][j], key);
        }
      if (g.vendor == "other") {
        std::string v = info(os, "GPUVendor");
        if (v.find("NVIDIA") != std::string::npos) g.vendor = "nvidia";
        if (v.find("AMD") != std::string::npos || v.find("Advanced Micro") != std::string::npos) g.vendor = "amd";
      }
      node.gpus.push_back(std::move(g));
    }
  }
  if (!node.gpus.empty()) return;
  // No GPU OS devices (hwloc built without CUDA/NVML/RSMI, as Debian's is): 3D/VGA controllers
  // of NVIDIA and AMD, numbered in PCI order (CUDA_DEVICE_ORDER=PCI_BUS_ID, nvidia-smi, Slurm).
  for (hwloc_obj_t pci = nullptr; (pci = hwloc_get_next_pcidev(t, pci));) {
    unsigned cls = pci->attr->pcidev.class_id;
    std::string vendor = vendor_of(pci);
    // 3D, VGA and other display controllers, and processing accelerators (MI300A is 0x1200).
    if ((cls == 0x0302 || cls == 0x0300 || cls == 0x0380 || cls == 0x1200) && vendor != "other") {
      Gpu g;
      g.loc = locality(t, pci);
      g.name = "pci:" + g.loc.busid;
      g.vendor = vendor;
      node.gpus.push_back(std::move(g));
    }
  }
  std::sort(node.gpus.begin(), node.gpus.end(), [](const Gpu& a, const Gpu& b) { return a.loc.busid < b.loc.busid; });
  std::map<std::string, int> next;
  for (auto& g : node.gpus) g.physical = next[g.vendor]++;
}

// An OS device's kind as a plain number. hwloc's XML import keeps whatever number the file says
// (osdev_type="8"), and loading a number outside the enum as hwloc_obj_osdev_type_t is undefined
// behaviour (the topology_xml fuzzer found it), so read its bytes instead. An unknown kind is
// not a NIC (GPUs are found by their names).
int osdev_kind(hwloc_obj_t os) {
  int kind = -1;
  static_assert(sizeof kind == sizeof os->attr->osdev.type);
  std::memcpy(&kind, &os->attr->osdev.type, sizeof kind);
  return kind;
}

// An OpenFabrics device's port states: hwloc's Linux backend reads ports/1/state, ports/2/state...
// until one is missing, and records each as PortNState, its first digit (ibv_port_state: 1 DOWN,
// 2 INIT, 3 ARMED, 4 ACTIVE, 5 ACTIVE_DEFER). The device is up when one port is ACTIVE, or when
// no state is reported at all; `port` becomes the first ACTIVE port (1 when none is).
void read_port_states(hwloc_obj_t os, Nic& n) {
  constexpr int kActive = 4, kMaxPorts = 255;  // an HCA has one or two; the bound keeps odd files cheap
  bool reported = false, active = false;
  n.port = 1;
  for (int port = 1; port <= kMaxPorts; ++port) {
    const char* v = hwloc_obj_get_info_by_name(os, ("Port" + std::to_string(port) + "State").c_str());
    if (!v) break;
    reported = true;
    char* end = nullptr;
    const long state = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && state == kActive) {  // anything else, unreadable too, is not ACTIVE
      n.port = port;
      active = true;
      break;
    }
  }
  n.up = active || !reported;
}

void add_nics(hwloc_topology_t t, NodeTopology& node) {
  for (hwloc_obj_t pci = nullptr; (pci = hwloc_get_next_pcidev(t, pci));) {
    std::vector<hwloc_obj_t> rdma, net;
    for (hwloc_obj_t os = pci->io_first_child; os; os = os->next_sibling) {
      if (os->type != HWLOC_OBJ_OS_DEVICE || !os->name) continue;
      const int kind = osdev_kind(os);
      if (kind == HWLOC_OBJ_OSDEV_OPENFABRICS) rdma.push_back(os);
      if (kind == HWLOC_OBJ_OSDEV_NETWORK && !virtual_interface(os->name)) net.push_back(os);
    }
    if (rdma.empty() && net.empty()) continue;
    Locality loc = locality(t, pci);
    double speed = pci->attr->pcidev.linkspeed;
    auto starts = [](const std::string& s, const char* p) { return s.rfind(p, 0) == 0; };
    if (!rdma.empty()) {
      for (hwloc_obj_t os : rdma) {
        Nic n;
        n.name = os->name;
        n.osdevs.push_back(n.name);
        for (hwloc_obj_t e : net) n.osdevs.push_back(e->name);
        n.fabric = true;
        bool ethernet_alias = std::any_of(net.begin(), net.end(), [&](hwloc_obj_t e) {
          std::string s = e->name;
          return starts(s, "eth") || starts(s, "en");
        });
        if (starts(n.name, "hfi")) n.kind = "omnipath";
        else if (starts(n.name, "rdmap") || starts(n.name, "efa")) n.kind = "efa";
        else if (starts(n.name, "mlx")) n.kind = ethernet_alias ? "roce" : "infiniband";
        else n.kind = "rdma";
        n.link_gbps = speed;
        read_port_states(os, n);
        n.loc = loc;
        node.nics.push_back(std::move(n));
      }
      continue;
    }
    for (hwloc_obj_t os : net) {
      Nic n;
      n.name = os->name;
      n.osdevs.push_back(n.name);
      std::string sub = os->subtype ? os->subtype : "";
      if (sub == "Slingshot" || starts(n.name, "hsi") || starts(n.name, "hsn")) n.kind = "slingshot", n.fabric = true;
      else if (starts(n.name, "ib")) n.kind = "ipoib", n.fabric = true;
      else n.kind = "ethernet";
      n.link_gbps = speed;
      n.loc = loc;
      node.nics.push_back(std::move(n));
    }
  }
}

}  // namespace

NodeTopology inventory(const HwlocTopology& h, const std::string& origin) {
  hwloc_topology_t t = h.get();
  NodeTopology node;
  node.origin = origin;
  hwloc_const_cpuset_t allowed = hwloc_topology_get_allowed_cpuset(t);
  const int ncores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
  const hwloc_obj_type_t unit = ncores > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  const int nnuma = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  for (int i = 0; i < nnuma; ++i)
    node.numa.push_back(static_cast<int>(hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, i)->os_index));
  std::set<int> seen;
  for (hwloc_obj_t c = nullptr; (c = hwloc_get_next_obj_by_type(t, unit, c));) {
    hwloc_bitmap_t set = hwloc_bitmap_dup(c->cpuset);
    hwloc_bitmap_and(set, set, allowed);
    Core core;
    core.pus = pus_of(set);
    hwloc_bitmap_free(set);
    if (core.pus.empty()) continue;
    for (int pu : core.pus)  // hwloc accepts such an XML file; the plan would share the PU unawares
      if (!seen.insert(pu).second)
        throw Error(Errc::invalid_environment, "the topology " + origin + " puts PU " + std::to_string(pu) +
                                                   " in two cores: it is not a consistent topology");
    core.index = static_cast<int>(node.cores.size());
    for (int i = 0; i < nnuma; ++i) {
      hwloc_obj_t n = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, i);
      if (hwloc_bitmap_isincluded(c->cpuset, n->cpuset)) {
        core.numa = static_cast<int>(n->os_index);
        break;
      }
    }
    if (hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(t, HWLOC_OBJ_PACKAGE, c))
      core.package = static_cast<int>(pkg->logical_index);
    node.cores.push_back(std::move(core));
  }
  add_gpus(t, node);
  add_nics(t, node);
  // Topology order: package, NUMA node, PCI bus id, partition.
  auto key = [](const Locality& l) {
    return std::make_tuple(l.package < 0 ? 1 << 30 : l.package, l.numa.empty() ? 1 << 30 : l.numa[0], l.busid);
  };
  std::stable_sort(node.gpus.begin(), node.gpus.end(), [&](const Gpu& a, const Gpu& b) {
    return std::make_tuple(key(a.loc), a.partition) < std::make_tuple(key(b.loc), b.partition);
  });
  std::stable_sort(node.nics.begin(), node.nics.end(),
                   [&](const Nic& a, const Nic& b) { return std::make_tuple(key(a.loc), a.name) < std::make_tuple(key(b.loc), b.name); });
  return node;
}

}  // namespace mpinit::detail
