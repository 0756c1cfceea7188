// The hwloc edge: load, share over a node communicator, turn into a NodeTopology, bind. Internal.
#pragma once

#include <hwloc.h>
#include <mpi.h>

#include <string>

#include "mpinit/topology.hpp"

namespace mpinit::detail {

/// An owned hwloc topology (destroyed with it).
class HwlocTopology {
 public:
  HwlocTopology() = default;
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;
  HwlocTopology(HwlocTopology&& o) noexcept : t_(o.t_) { o.t_ = nullptr; }
  HwlocTopology& operator=(HwlocTopology&& o) noexcept;
  ~HwlocTopology();

  /// Discover this machine, with PCI and OS devices, and with the resources this process may not
  /// use (so that an export serves local ranks whose allowed sets differ from this one's).
  static HwlocTopology discover();
  /// Load an XML file (not this system: plans only, no binding). Errors name the file.
  /// `allowed`: if not empty, the PUs the plan may use (hwloc_topology_allow, custom).
  static HwlocTopology from_file(const std::string& path, const std::vector<int>& allowed = {});
  /// Import an XML buffer exported by this node's leader; `this_system` marks it as this machine
  /// (so binding works) when the leader discovered it, and then the allowed resources are this
  /// process's own (its cgroup cpuset), not the leader's.
  static HwlocTopology from_buffer(const std::string& xml, const std::string& what, bool this_system);
  /// Export as an XML buffer.
  std::string to_xml() const;

  hwloc_topology_t get() const { return t_; }
  bool is_this_system() const;
  /// The PUs plans may use (OS indices).
  std::vector<int> allowed_cpus() const;
  /// Narrow them to `cpus` (a subset of allowed_cpus(), not empty): a binding the process started
  /// with. Needs a topology with disallowed resources (discover, from_buffer with this_system).
  void restrict_allowed(const std::vector<int>& cpus);

 private:
  hwloc_topology_t t_ = nullptr;
};

/// The PUs of an hwloc set, as OS indices.
std::vector<int> pus_of(hwloc_const_bitmap_t set);

/// What placement needs, as plain data (inventory.cpp).
NodeTopology inventory(const HwlocTopology& t, const std::string& origin);

/// Bind the process's CPUs (and, with `membind`, its memory) to `cpus` (PU OS indices).
/// Throws Error(internal) naming the call and errno when CPU binding fails; a memory binding
/// failure (no NUMA support in the kernel, say) is returned as a warning instead.
std::string bind_process(const HwlocTopology& t, const std::vector<int>& cpus, bool membind);

/// The PUs this process is bound to now (its affinity), as OS indices.
std::vector<int> current_binding(const HwlocTopology& t);

/// The CPU affinity this process had when it first asked (the first launch() of the process
/// asks before binding anything), as OS indices: a later launch() in the same process sees the
/// process as it started, not as mpinit bound it.
const std::vector<int>& initial_affinity();

}  // namespace mpinit::detail
