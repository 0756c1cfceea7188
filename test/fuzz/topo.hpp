// Shared by the placement fuzz targets: a NodeTopology built from bytes (shaped like what
// lib/topo's inventory gives), a plan request from bytes, and the rules every plan obeys.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz.hpp"
#include "mpinit/rendezvous.hpp"
#include "mpinit/topology.hpp"
#include "placement/distance.hpp"

namespace fuzz {

using mpinit::Gpu;
using mpinit::Locality;
using mpinit::Nic;
using mpinit::NodeTopology;
using mpinit::Placement;
using mpinit::PlanRequest;

/// Packages, NUMA nodes, cores and hardware threads (some of them not allowed), GPUs and NICs
/// under a NUMA node, a package or the machine, behind shared or separate PCI bridges.
inline NodeTopology make_topology(Bytes& in) {
  NodeTopology t;
  t.origin = "fuzz input";
  const int packages = in.in(1, 2), numa_per = in.in(0, 2), cores_per = in.in(1, 6), threads = in.in(1, 2);
  const bool interleaved = in.flag();  // PU numbering 0..n-1 over first threads, then second threads
  const unsigned disallowed = in.byte();
  const int ncores = packages * std::max(numa_per, 1) * cores_per;
  for (int n = 0; n < packages * numa_per; ++n) t.numa.push_back(n);
  if (numa_per > 0 && in.flag()) t.numa.push_back(packages * numa_per);  // a NUMA node without cores (HBM, CXL)
  std::map<std::pair<int, int>, std::vector<int>> pus_of;                // (package, numa or -1) -> allowed PUs
  for (int c = 0; c < ncores; ++c) {
    mpinit::Core core;
    const int pkg = c / (ncores / packages);
    core.package = pkg;
    core.numa = numa_per > 0 ? c / cores_per : -1;
    for (int h = 0; h < threads; ++h) {
      int pu = interleaved ? h * ncores + c : c * threads + h;
      if (disallowed >> (pu % 8) & 1) continue;
      core.pus.push_back(pu);
      pus_of[{pkg, core.numa}].push_back(pu);
      pus_of[{pkg, -1}].push_back(pu);
      pus_of[{-1, -1}].push_back(pu);
    }
    std::sort(core.pus.begin(), core.pus.end());
    if (core.pus.empty()) continue;
    core.index = static_cast<int>(t.cores.size());
    t.cores.push_back(core);
  }
  // Where a device hangs: under NUMA node n (ancestor id 2000+n), package p (1000+p) or the machine (1).
  auto locality = [&](int bus) {
    Locality loc;
    const unsigned where = in.byte();
    const int pkg = static_cast<int>(where % packages);
    const int kind = numa_per > 0 ? (where >> 1) % 3 : 1 + (where >> 1) % 2;
    char busid[16];
    std::snprintf(busid, sizeof busid, "0000:%02x:00.0", bus & 0xff);
    loc.busid = busid;
    loc.bridges = {100u + (where >> 3) % 4};
    if (where & 0x20) loc.bridges.push_back(200u + (where >> 6));
    if (kind == 0) {
      int numa = pkg * numa_per + static_cast<int>((where >> 6) % numa_per);
      loc.ancestor = 2000u + numa, loc.ancestor_type = "NUMANode", loc.package = pkg, loc.numa = {numa};
      loc.pus = pus_of[{pkg, numa}];
    } else if (kind == 1) {
      loc.ancestor = 1000u + pkg, loc.ancestor_type = "Package", loc.package = pkg, loc.pus = pus_of[{pkg, -1}];
      for (int j = 0; j < numa_per; ++j) loc.numa.push_back(pkg * numa_per + j);
    } else {
      loc.ancestor = 1, loc.ancestor_type = "Machine", loc.pus = pus_of[{-1, -1}];
      loc.numa.assign(t.numa.begin(), t.numa.begin() + packages * numa_per);
    }
    std::sort(loc.pus.begin(), loc.pus.end());
    return loc;
  };
  const int ngpus = in.in(0, 8);
  std::map<std::string, int> next_physical;
  for (int g = 0; g < ngpus; ++g) {
    Gpu gpu;
    gpu.loc = locality(0x10 + g);
    const unsigned v = in.byte();
    gpu.vendor = v % 4 == 3 ? "other" : v % 4 == 2 ? "amd" : "nvidia";
    gpu.physical = next_physical[gpu.vendor]++;
    gpu.name = (gpu.vendor == "amd" ? "rsmi" : "cuda") + std::to_string(gpu.physical);
    gpu.osdevs = {gpu.name};
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "%02x%02x-0000-1111-2222", (v >> 2) % 4, in.byte() % 4);  // prefixes collide
    if (gpu.vendor != "other") gpu.uuid = uuid;
    t.gpus.push_back(gpu);
  }
  const int nnics = in.in(0, 4);
  for (int i = 0; i < nnics; ++i) {
    Nic nic;
    nic.loc = locality(0x80 + i);
    const unsigned k = in.byte();
    nic.fabric = k & 1;
    nic.kind = nic.fabric ? "infiniband" : "ethernet";
    nic.name = (nic.fabric ? "mlx5_" : "eth") + std::to_string(i);
    nic.osdevs = {nic.name};
    nic.link_gbps = (k >> 1) % 4 * 12.5;
    // Port states, as the inventory gives them: none reported (up, port 0), port 1 DOWN, port 1
    // ACTIVE, or port 1 DOWN and port 2 ACTIVE. Ethernet NICs may be down too: the planner's
    // rule holds for any data.
    const int ports = (k >> 3) % 4;
    nic.up = ports != 1;
    nic.port = ports == 0 ? 0 : ports == 3 ? 2 : 1;
    t.nics.push_back(nic);
  }
  // Topology order, as lib/topo gives it: package, NUMA node, PCI bus id.
  auto key = [](const Locality& l) {
    return std::make_tuple(l.package < 0 ? 1 << 30 : l.package, l.numa.empty() ? 1 << 30 : l.numa[0], l.busid);
  };
  std::stable_sort(t.gpus.begin(), t.gpus.end(), [&](const Gpu& a, const Gpu& b) { return key(a.loc) < key(b.loc); });
  std::stable_sort(t.nics.begin(), t.nics.end(), [&](const Nic& a, const Nic& b) { return key(a.loc) < key(b.loc); });
  return t;
}

/// Distinct GPU indices in an order taken from the input.
inline std::vector<int> pick_gpus(Bytes& in, int ngpus) {
  std::vector<int> all(ngpus);
  for (int g = 0; g < ngpus; ++g) all[g] = g;
  for (int i = ngpus - 1; i > 0; --i) std::swap(all[i], all[in.in(0, i)]);
  all.resize(in.in(0, ngpus));
  return all;
}

/// Rank count, policy, oversubscription and visible lists (none, one for all, one per rank).
inline PlanRequest make_request(Bytes& in, const NodeTopology& t) {
  PlanRequest req;
  req.local_size = in.in(1, 48);
  req.policy = static_cast<mpinit::GpuPolicy>(in.in(0, 3));
  req.oversubscribe = !(in.byte() % 4 == 0);
  const int lists = in.in(0, 2);
  if (lists == 1) req.visible = {pick_gpus(in, static_cast<int>(t.gpus.size()))};
  if (lists == 2)
    for (int r = 0; r < req.local_size; ++r) req.visible.push_back(pick_gpus(in, static_cast<int>(t.gpus.size())));
  if (lists) req.visible_source = "CUDA_VISIBLE_DEVICES";
  return req;
}

/// The rules of plan_placement's result.
inline void check_plan(const NodeTopology& t, const PlanRequest& req, const Placement& p) {
  const int R = req.local_size, G = static_cast<int>(t.gpus.size()), N = static_cast<int>(t.nics.size());
  FUZZ_CHECK(static_cast<int>(p.ranks.size()) == R, std::to_string(p.ranks.size()) + " plans");
  if (!req.oversubscribe) FUZZ_CHECK(static_cast<int>(t.cores.size()) >= R, "oversubscribed while forbidden");
  std::map<int, int> core_of;  // PU -> core
  for (const auto& c : t.cores)
    for (int pu : c.pus) core_of[pu] = c.index;
  auto noted = [&](const char* what) {
    return std::any_of(p.notes.begin(), p.notes.end(), [&](const std::string& n) { return contains(n, what); });
  };
  const bool overlap = noted("overlap"), by_thread = noted("hardware threads are split");
  auto any_nic = [&](auto pred) { return std::any_of(t.nics.begin(), t.nics.end(), pred); };
  const bool any_fabric = any_nic([](const Nic& n) { return n.fabric; });
  const bool up_fabric = any_nic([](const Nic& n) { return n.fabric && n.up; });
  const bool any_up = any_nic([](const Nic& n) { return n.up; });
  // The GPUs the planner may use without a visible list: those local to an allowed core, if any.
  std::vector<int> usable;
  for (int g = 0; g < G; ++g)
    if (std::any_of(t.gpus[g].loc.pus.begin(), t.gpus[g].loc.pus.end(), [&](int pu) { return core_of.count(pu); }))
      usable.push_back(g);
  if (usable.empty())
    for (int g = 0; g < G; ++g) usable.push_back(g);
  std::map<int, int> owner;                        // PU -> rank
  std::map<std::vector<int>, std::set<int>> used;  // visible list -> GPUs its ranks got
  std::map<std::vector<int>, int> group_size;
  for (int r = 0; r < R; ++r) {
    const auto& rp = p.ranks[r];
    const std::string who = "rank " + std::to_string(r) + " of " + std::to_string(R) + ": ";
    FUZZ_CHECK(rp.local_rank == r, who + "local_rank " + std::to_string(rp.local_rank));
    FUZZ_CHECK(!rp.cpus.empty(), who + "no CPU");
    std::set<int> cores;
    for (int pu : rp.cpus) {
      FUZZ_CHECK(core_of.count(pu), who + "PU " + std::to_string(pu) + " is not allowed");
      FUZZ_CHECK(overlap || !owner.count(pu), who + "PU " + std::to_string(pu) + " also given to another rank");
      owner[pu] = r;
      cores.insert(core_of[pu]);
    }
    if (!by_thread)
      for (int c : cores)
        for (int pu : t.cores[c].pus)
          FUZZ_CHECK(std::count(rp.cpus.begin(), rp.cpus.end(), pu), who + "part of core " + std::to_string(c));
    for (int n : rp.numa) FUZZ_CHECK(std::count(t.numa.begin(), t.numa.end(), n), who + "NUMA " + std::to_string(n));
    FUZZ_CHECK(rp.ordinals.size() == rp.gpus.size(), who + "ordinals");
    if (req.policy == mpinit::GpuPolicy::none) FUZZ_CHECK(rp.gpus.empty(), who + "a GPU under policy none");
    if (req.policy != mpinit::GpuPolicy::split) FUZZ_CHECK(rp.gpus.size() <= 1, who + "several GPUs");
    const std::vector<int>& vis = req.visible.empty()       ? usable
                                  : req.visible.size() == 1 ? req.visible[0]
                                                            : req.visible[r];
    ++group_size[vis];
    if (req.policy == mpinit::GpuPolicy::exclusive) FUZZ_CHECK(rp.gpus.size() == 1, who + "exclusive without a GPU");
    for (size_t i = 0; i < rp.gpus.size(); ++i) {
      const int g = rp.gpus[i], o = rp.ordinals[i];
      FUZZ_CHECK(g >= 0 && g < G, who + "GPU index " + std::to_string(g));
      FUZZ_CHECK(std::count(vis.begin(), vis.end(), g), who + "GPU " + std::to_string(g) + " outside its list");
      if (req.visible.empty())
        FUZZ_CHECK(o == t.gpus[g].physical, who + "ordinal " + std::to_string(o) + " is not the physical index");
      else
        FUZZ_CHECK(o >= 0 && o < static_cast<int>(vis.size()) && vis[o] == g, who + "ordinal " + std::to_string(o));
      if (req.policy == mpinit::GpuPolicy::exclusive)
        FUZZ_CHECK(!used[vis].count(g), who + "exclusive GPU " + std::to_string(g) + " given twice");
      used[vis].insert(g);
    }
    FUZZ_CHECK(rp.nic >= -1 && rp.nic < N, who + "NIC index " + std::to_string(rp.nic));
    if (N > 0) FUZZ_CHECK(rp.nic >= 0, who + "no NIC");
    if (rp.nic >= 0) {
      // A working fabric NIC wins over a down one and over Ethernet; else an up NIC over a down
      // one; else a fabric NIC over Ethernet; anything but a working fabric NIC is noted.
      const Nic& mine = t.nics[rp.nic];
      if (up_fabric)
        FUZZ_CHECK(mine.fabric && mine.up, who + mine.name + ": a down port or an Ethernet port won over a working fabric NIC");
      else if (any_up)
        FUZZ_CHECK(mine.up, who + mine.name + ": a down port won over a NIC that is up");
      else if (any_fabric)
        FUZZ_CHECK(mine.fabric, who + mine.name + ": an Ethernet port won over a fabric NIC");
      if (!mine.up || (!mine.fabric && any_fabric)) FUZZ_CHECK(noted("PortNState"), who + mine.name + " without a note");
      // No fabric NIC in the same state is nearer to the rank's GPU.
      if (mine.fabric && !rp.gpus.empty()) {
        const int d = mpinit::detail::pci_distance(t.gpus[rp.gpus[0]].loc, mine.loc);
        for (const auto& n : t.nics)
          if (n.fabric && n.up == mine.up)
            FUZZ_CHECK(mpinit::detail::pci_distance(t.gpus[rp.gpus[0]].loc, n.loc) >= d,
                       who + n.name + " is nearer than " + mine.name);
      }
    }
  }
  // Every GPU of a group's list serves a rank once the group has as many ranks as GPUs.
  if (req.policy != mpinit::GpuPolicy::none)
    for (const auto& [vis, k] : group_size)
      if (k >= static_cast<int>(vis.size()) || req.policy == mpinit::GpuPolicy::split)
        FUZZ_CHECK(used[vis].size() == vis.size(), std::to_string(used[vis].size()) + " of " +
                                                       std::to_string(vis.size()) + " GPUs used by " +
                                                       std::to_string(k) + " ranks");
}

/// `mpinit exec`'s visible list for a rank (visible_for_local_rank): when it sets one, device
/// LOCAL_RANK of that list is the planned GPU (its physical index: all the runtime knows of it,
/// and a topology file may give two GPUs the same one). `env` holds the rank's visible variable.
inline void check_exec_visible(const NodeTopology& t, const mpinit::RankPlan& rp, const mpinit::EnvMap& env) {
  std::string note;
  const mpinit::EnvMap out = mpinit::visible_for_local_rank(t, rp, env, &note);
  if (out.empty()) return;
  FUZZ_CHECK(out.size() == 1 && !rp.gpus.empty(), "visible_for_local_rank set " + std::to_string(out.size()));
  const auto& [var, value] = *out.begin();
  const Gpu& planned = t.gpus[rp.gpus[0]];
  std::vector<int> list;
  try {
    list = mpinit::resolve_visible(t, var, value, planned.vendor);
  } catch (const mpinit::Error& e) {
    broken(__FILE__, __LINE__, "exec's list parses", e.what());
  }
  FUZZ_CHECK(
      rp.local_rank < static_cast<int>(list.size()) && t.gpus[list[rp.local_rank]].physical == planned.physical,
      var + "='" + value + "' does not make device " + std::to_string(rp.local_rank) + " the planned " + planned.name);
}

}  // namespace fuzz
