#include "hw/topology.hpp"

#include <algorithm>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "mpinit/error.hpp"

namespace mpinit::detail {
namespace {


[[noreturn]] void fail(const std::string& what) {
  throw Error(Errc::invalid_environment, what + (errno ? std::string(": ") + std::strerror(errno) : ""));
}

hwloc_topology_t fresh() {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0) throw Error(Errc::system, "hwloc_topology_init failed");
  // I/O objects are filtered out by default; GPUs and NICs are what placement is about.
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  return t;
}

// Loads `t`; throws when it cannot. `t` stays with its owner, who destroys it (once).
void load_or_throw(hwloc_topology_t t, const std::string& what) {
  errno = 0;
  if (hwloc_topology_load(t) != 0) fail("cannot load the topology " + what);
}

}  // namespace

std::vector<int> pus_of(hwloc_const_bitmap_t set) {
  std::vector<int> out;
  if (!set) return out;
  int i;
  hwloc_bitmap_foreach_begin(i, set) out.push_back(i);
  hwloc_bitmap_foreach_end();
  return out;
}



HwlocTopology& HwlocTopology::operator=(HwlocTopology&& o) noexcept {
  if (this != &o) {
    if (t_) hwloc_topology_destroy(t_);
    t_ = o.t_;
    o.t_ = nullptr;
  }
  return *this;
}

HwlocTopology::~HwlocTopology() {
  if (t_) hwloc_topology_destroy(t_);
}

HwlocTopology HwlocTopology::discover() {
  HwlocTopology h;
  h.t_ = fresh();
  hwloc_topology_set_flags(h.t_, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  load_or_throw(h.t_, "of this machine");
  return h;
}

HwlocTopology HwlocTopology::from_file(const std::string& path, const std::vector<int>& allowed) {
  HwlocTopology h;
  h.t_ = fresh();  // h destroys it, also when a step below throws
  hwloc_topology_t t = h.t_;
  if (!allowed.empty()) hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  errno = 0;
  if (::access(path.c_str(), R_OK) != 0) fail("cannot read the topology file '" + path + "'");
  if (hwloc_topology_set_xml(t, path.c_str()) != 0) {  // hwloc parses the file here
    errno = 0;
    fail("the topology file '" + path + "' is not a valid hwloc XML topology");
  }
  load_or_throw(t, "file '" + path + "': not a valid hwloc XML topology");
  if (!allowed.empty()) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (int c : allowed) hwloc_bitmap_set(set, static_cast<unsigned>(c));
    hwloc_bitmap_and(set, set, hwloc_topology_get_complete_cpuset(t));
    bool empty = hwloc_bitmap_iszero(set);
    if (!empty) hwloc_topology_allow(t, set, nullptr, HWLOC_ALLOW_FLAG_CUSTOM);
    hwloc_bitmap_free(set);
    if (empty)
      throw Error(Errc::invalid_setting, "none of the allowed CPUs " + format_cpus(allowed) + " exist in '" + path + "'");
  }
  return h;
}

HwlocTopology HwlocTopology::from_buffer(const std::string& xml, const std::string& what, bool this_system) {
  HwlocTopology h;
  h.t_ = fresh();
  if (this_system)
    hwloc_topology_set_flags(h.t_, HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM | HWLOC_TOPOLOGY_FLAG_THISSYSTEM_ALLOWED_RESOURCES |
                                       HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  if (hwloc_topology_set_xmlbuffer(h.t_, xml.data(), static_cast<int>(xml.size()) + 1) != 0)
    fail("cannot import the topology " + what);
  load_or_throw(h.t_, what);
  return h;
}

std::string HwlocTopology::to_xml() const {
  char* buf = nullptr;
  int len = 0;
  if (hwloc_topology_export_xmlbuffer(t_, &buf, &len, 0) != 0) throw Error(Errc::system, "hwloc XML export failed");
  std::string xml(buf, len > 0 ? static_cast<size_t>(len - 1) : 0);  // len counts the final NUL
  hwloc_free_xmlbuffer(t_, buf);
  return xml;
}

bool HwlocTopology::is_this_system() const { return hwloc_topology_is_thissystem(t_) != 0; }

std::vector<int> HwlocTopology::allowed_cpus() const { return pus_of(hwloc_topology_get_allowed_cpuset(t_)); }

void HwlocTopology::restrict_allowed(const std::vector<int>& cpus) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  for (int c : cpus) hwloc_bitmap_set(set, static_cast<unsigned>(c));
  hwloc_bitmap_and(set, set, hwloc_topology_get_allowed_cpuset(t_));
  const int rc = hwloc_bitmap_iszero(set) ? -1 : hwloc_topology_allow(t_, set, nullptr, HWLOC_ALLOW_FLAG_CUSTOM);
  hwloc_bitmap_free(set);
  if (rc != 0)
    throw Error(Errc::system, "cannot restrict the topology to CPUs " + format_cpus(cpus) + " (MPINIT_REBIND=on "
                              "plans on the whole allowed set instead)");
}

std::string bind_process(const HwlocTopology& h, const std::vector<int>& cpus, bool membind) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  for (int c : cpus) hwloc_bitmap_set(set, static_cast<unsigned>(c));
  errno = 0;
  int rc = hwloc_set_cpubind(h.get(), set, HWLOC_CPUBIND_PROCESS);
  int err = errno;
  std::string warning;
  if (rc == 0 && membind) {
    errno = 0;
    // Linux memory policy is per thread: bind the calling (start-up) thread; threads it creates
    // later inherit the policy. HWLOC_MEMBIND_PROCESS fails (ENOSYS) once other threads exist.
    if (hwloc_set_membind(h.get(), set, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_THREAD) != 0)
      warning = "hwloc_set_membind to the NUMA nodes of CPUs " + format_cpus(cpus) + " failed: " +
                std::strerror(errno) + "; memory is not bound (MPINIT_MEMBIND=off silences this)";
  }
  hwloc_bitmap_free(set);
  if (rc != 0)
    throw Error(Errc::system, "hwloc_set_cpubind to CPUs " + format_cpus(cpus) + " failed: " + std::strerror(err) +
                                    " (MPINIT_BIND=off skips binding)");
  return warning;
}

const std::vector<int>& initial_affinity() {
  static const std::vector<int> cpus = [] {
    std::vector<int> out;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) out.push_back(c);
    return out;
  }();
  return cpus;
}

std::vector<int> current_binding(const HwlocTopology& h) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  hwloc_get_cpubind(h.get(), set, HWLOC_CPUBIND_PROCESS);
  auto out = pus_of(set);
  hwloc_bitmap_free(set);
  return out;
}

}  // namespace mpinit::detail
