// The placement planner: pure functions over a NodeTopology, in three phases (GPUs, CPU sets,
// NICs); the codecs it uses live beside it (cpulist.cpp, visible.cpp, netvars.cpp).
#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <tuple>

#include "mpinit/error.hpp"
#include "mpinit/topology.hpp"
#include "placement/distance.hpp"

namespace mpinit {
inline namespace v2 {

namespace {

// How far a NIC is from a set of cores (a rank without a GPU): 2 local, 3 same NUMA, 4 same package.
int cpu_distance(const NodeTopology& t, const std::vector<int>& core_ids, const Locality& nic) {
  std::set<int> pus, numas, pkgs;
  for (int c : core_ids) {
    pus.insert(t.cores[c].pus.begin(), t.cores[c].pus.end());
    numas.insert(t.cores[c].numa);
    pkgs.insert(t.cores[c].package);
  }
  for (int p : nic.pus)
    if (pus.count(p)) return 2;
  for (int n : nic.numa)
    if (numas.count(n)) return 3;
  if (nic.package >= 0 && pkgs.count(nic.package)) return 4;
  return 5;
}

// `nearest`: how case 5 names the NIC ("fabric NIC", "NIC"), or "" when the caller says why it won.
std::string distance_words(int d, bool gpu, const std::string& ancestor_type, const std::string& nearest) {
  const std::string of = gpu ? "its GPU's " : "its cores' ";
  switch (d) {
    case 0: return "shares " + of + "PCI switch";
    case 1: return "shares " + of + "host bridge";
    case 2: return gpu ? "is under the same " + ancestor_type + " as its GPU" : "is local to its cores";
    case 3: return "is on " + of + "NUMA node";
    case 4: return "is in " + of + "package";
    default: return (nearest.empty() ? "is" : "is the nearest " + nearest + ",") + " outside " + of + "package";
  }
}

// Core ids (indices into t.cores) local to a locality: cores with a PU in it.
std::vector<int> cores_of(const NodeTopology& t, const std::vector<int>& pus) {
  std::set<int> want(pus.begin(), pus.end());
  std::vector<int> out;
  for (size_t c = 0; c < t.cores.size(); ++c)
    for (int p : t.cores[c].pus)
      if (want.count(p)) {
        out.push_back(static_cast<int>(c));
        break;
      }
  return out;
}

// Give `count` consumers blocks of `n` items: consumer i gets [i*n/count, (i+1)*n/count), or, with
// fewer items than consumers, the one item i*n/count (shared).
std::pair<int, int> block(int i, int count, int n) {
  if (n >= count) return {static_cast<int>(1LL * i * n / count), static_cast<int>(1LL * (i + 1) * n / count)};
  int k = static_cast<int>(1LL * i * n / count);
  return {k, k + 1};
}

// GPUs: ranks with the same visible list form a group; a group's ranks share its GPUs.
void plan_gpus(const NodeTopology& topo, const PlanRequest& req, Placement& out) {
  const int R = static_cast<int>(out.ranks.size());
  // With no visible list, a GPU's ordinal is its physical index (what the runtime numbers it).
  std::vector<int> all(topo.gpus.size());
  std::iota(all.begin(), all.end(), 0);
  std::stable_sort(all.begin(), all.end(), [&](int a, int b) { return topo.gpus[a].physical < topo.gpus[b].physical; });
  // A job restricted to some CPUs (a cgroup, a Slurm cpuset) owns the GPUs next to them: GPUs
  // local to no allowed core are left out unless a visible list names them (as mpibind does).
  {
    std::set<int> allowed;
    for (const auto& c : topo.cores) allowed.insert(c.pus.begin(), c.pus.end());
    auto local = [&](int g) {
      const auto& pus = topo.gpus[g].loc.pus;
      return std::any_of(pus.begin(), pus.end(), [&](int p) { return allowed.count(p) != 0; });
    };
    std::vector<int> near;
    std::copy_if(all.begin(), all.end(), std::back_inserter(near), local);
    if (!near.empty() && near.size() < all.size()) {
      out.notes.push_back(std::to_string(all.size() - near.size()) +
                          " GPU(s) are local to no allowed core and are left out (a visible list can name them)");
      all = near;
    }
  }
  auto visible_of = [&](int r) -> const std::vector<int>& {
    if (req.visible.empty()) return all;
    return req.visible.size() == 1 ? req.visible[0] : req.visible[r];
  };
  if (req.policy != GpuPolicy::none) {
    std::map<std::vector<int>, std::vector<int>> groups;  // visible list -> its ranks
    for (int r = 0; r < R; ++r) groups[visible_of(r)].push_back(r);
    for (const auto& [list, ranks] : groups) {
      // The group's GPUs in topology order (topo.gpus is sorted), each with its ordinal in the list.
      std::vector<int> order(list);
      std::sort(order.begin(), order.end());
      const int G = static_cast<int>(order.size()), k = static_cast<int>(ranks.size());
      if (G == 0) {
        if (req.policy == GpuPolicy::exclusive)
          throw Error(Errc::invalid_setting, "GPU policy 'exclusive' gives each rank its own GPU, but " +
                                                 std::to_string(k) + " local rank(s) see no GPU" +
                                                 (req.visible_source.empty() ? "" : " (" + req.visible_source + ")"));
        continue;
      }
      if (req.policy == GpuPolicy::exclusive && k > G)
        throw Error(Errc::invalid_setting, "GPU policy 'exclusive' gives each rank its own GPU, but " +
                                               std::to_string(k) + " local ranks see only " + std::to_string(G) +
                                               " GPU(s)" +
                                               (req.visible_source.empty() ? "" : " (" + req.visible_source + ")"));
      for (int j = 0; j < k; ++j) {
        RankPlan& p = out.ranks[ranks[j]];
        auto [lo, hi] = req.policy == GpuPolicy::split ? block(j, k, G) : std::pair<int, int>{0, 0};
        if (req.policy != GpuPolicy::split) {
          lo = static_cast<int>(1LL * j * G / k);  // blocks when k > G, evenly spread when k < G
          hi = lo + 1;
        }
        for (int g = lo; g < hi; ++g) {
          p.gpus.push_back(order[g]);
          p.ordinals.push_back(req.visible.empty()
                                   ? topo.gpus[order[g]].physical
                                   : static_cast<int>(std::find(list.begin(), list.end(), order[g]) - list.begin()));
        }
      }
    }
  }

}

// CPU sets: a domain's cores are divided among the ranks placed in it, in whole cores. Returns
// each rank's domain (its cores), where the NIC phase looks for the nearest NIC.
std::vector<std::vector<int>> plan_cpus(const NodeTopology& topo, Placement& out) {
  const int R = static_cast<int>(out.ranks.size());
  // A rank's domain is its first GPU's non-I/O ancestor; without a GPU, ranks are spread over
  // NUMA nodes in blocks proportional to their cores.
  std::map<std::string, std::vector<int>> domain_ranks;  // domain key -> ranks, in rank order
  std::map<std::string, std::vector<int>> domain_cores;
  std::map<std::string, std::string> domain_words;
  std::vector<std::string> key_of(R);
  std::vector<int> all_cores(topo.cores.size());
  std::iota(all_cores.begin(), all_cores.end(), 0);

  // NUMA domains for ranks without a GPU.
  std::vector<std::pair<int, std::vector<int>>> numa_domains;  // (numa os index, cores)
  for (int n : topo.numa) {
    std::vector<int> cs;
    for (size_t c = 0; c < topo.cores.size(); ++c)
      if (topo.cores[c].numa == n) cs.push_back(static_cast<int>(c));
    if (!cs.empty()) numa_domains.push_back({n, cs});
  }
  if (numa_domains.empty()) numa_domains.push_back({-1, all_cores});
  std::vector<int> cpu_only;
  for (int r = 0; r < R; ++r)
    if (out.ranks[r].gpus.empty()) cpu_only.push_back(r);

  for (int r = 0; r < R; ++r) {
    RankPlan& p = out.ranks[r];
    if (p.gpus.empty()) continue;
    const Gpu& g = topo.gpus[p.gpus[0]];
    std::string key = "gpu-ancestor-" + std::to_string(g.loc.ancestor);
    if (!domain_cores.count(key)) {
      auto cs = cores_of(topo, g.loc.pus);
      std::string words = "cores of its GPU's " + g.loc.ancestor_type;
      if (cs.empty()) {  // the GPU hangs off CPUs the process may not use
        for (size_t c = 0; c < topo.cores.size(); ++c)
          if (g.loc.package >= 0 && topo.cores[c].package == g.loc.package) cs.push_back(static_cast<int>(c));
        words = cs.empty() ? "allowed cores (its GPU is local to none of them)"
                           : "allowed cores of its GPU's package (its GPU's own cores are not allowed)";
        if (cs.empty()) cs = all_cores;
      }
      domain_cores[key] = cs;
      domain_words[key] = words;
    }
    domain_ranks[key].push_back(r);
    key_of[r] = key;
  }
  {
    // CPU-only ranks: block-spread over NUMA domains by core count.
    long total = 0;
    for (auto& d : numa_domains) total += static_cast<long>(d.second.size());
    const int k = static_cast<int>(cpu_only.size());
    for (int j = 0; j < k; ++j) {
      long target = (2L * j + 1) * total / (2L * k);  // the middle of rank j's share of the cores
      size_t d = 0;
      for (long acc = 0; d < numa_domains.size(); ++d) {
        acc += static_cast<long>(numa_domains[d].second.size());
        if (target < acc) break;
      }
      d = std::min(d, numa_domains.size() - 1);
      std::string key = "numa-" + std::to_string(numa_domains[d].first);
      domain_cores[key] = numa_domains[d].second;
      domain_words[key] = numa_domains[d].first < 0 ? "cores of the node"
                                                    : "cores of NUMA node " + std::to_string(numa_domains[d].first);
      domain_ranks[key].push_back(cpu_only[j]);
      key_of[cpu_only[j]] = key;
    }
  }
  std::vector<std::string> words_of(R);
  for (int r = 0; r < R; ++r) words_of[r] = domain_words[key_of[r]];
  // Domains whose cores overlap (a GPU that falls back to other cores, CPU-only ranks beside GPU
  // ranks) are merged, so their cores are divided among all their ranks instead of shared.
  for (bool merged = true; merged;) {
    merged = false;
    for (auto a = domain_ranks.begin(); a != domain_ranks.end() && !merged; ++a)
      for (auto b = std::next(a); b != domain_ranks.end() && !merged; ++b) {
        const auto& ca = domain_cores[a->first];
        const auto& cb = domain_cores[b->first];
        if (std::none_of(ca.begin(), ca.end(), [&](int c) { return std::find(cb.begin(), cb.end(), c) != cb.end(); }))
          continue;
        std::set<int> cores(ca.begin(), ca.end());
        cores.insert(cb.begin(), cb.end());
        domain_cores[a->first].assign(cores.begin(), cores.end());
        domain_words[a->first] = "merged";
        a->second.insert(a->second.end(), b->second.begin(), b->second.end());
        for (int r : b->second) key_of[r] = a->first;
        domain_ranks.erase(b);
        merged = true;
      }
  }
  for (auto& [key, ranks] : domain_ranks) {
    std::sort(ranks.begin(), ranks.end());
    const auto& cs = domain_cores[key];
    const int k = static_cast<int>(ranks.size()), n = static_cast<int>(cs.size());
    // Fewer cores than ranks but enough hardware threads: split the threads rather than share cores.
    std::vector<std::pair<int, int>> threads;  // (PU, core) in core order
    for (int c : cs)
      for (int pu : topo.cores[c].pus) threads.push_back({pu, c});
    if (n < k && static_cast<int>(threads.size()) < k)
      out.notes.push_back(std::to_string(k) + " ranks share " + std::to_string(threads.size()) +
                          " hardware thread(s): CPU sets overlap");
    else if (n < k)
      out.notes.push_back(std::to_string(k) + " ranks on " + std::to_string(n) +
                          " core(s): their hardware threads are split among the ranks");
    const bool by_thread = n < k && static_cast<int>(threads.size()) >= k;
    for (int j = 0; j < k; ++j) {
      RankPlan& p = out.ranks[ranks[j]];
      std::set<int> numas;
      std::string unit = "cores";
      int lo, hi, total = n;
      if (by_thread) {
        std::tie(lo, hi) = block(j, k, static_cast<int>(threads.size()));
        total = static_cast<int>(threads.size());
        unit = "hardware threads";
        for (int t = lo; t < hi; ++t) {
          p.cpus.push_back(threads[t].first);
          if (topo.cores[threads[t].second].numa >= 0) numas.insert(topo.cores[threads[t].second].numa);
        }
      } else {
        std::tie(lo, hi) = block(j, k, n);
        for (int c = lo; c < hi; ++c) {
          const Core& core = topo.cores[cs[c]];
          p.cpus.insert(p.cpus.end(), core.pus.begin(), core.pus.end());
          if (core.numa >= 0) numas.insert(core.numa);
        }
      }
      std::sort(p.cpus.begin(), p.cpus.end());
      p.numa.assign(numas.begin(), numas.end());
      std::string words = words_of[ranks[j]];
      if (by_thread && words.rfind("cores", 0) == 0) words = "hardware threads" + words.substr(5);
      else if (by_thread) words = "hardware threads of the " + words;
      p.reason = std::to_string(hi - lo) + " of the " + std::to_string(total) + " " + words;
      if (domain_words[key] == "merged") p.reason += " (divided with the ranks of an overlapping domain)";
    }
  }

  std::vector<std::vector<int>> domain_of(R);
  for (int r = 0; r < R; ++r) domain_of[r] = domain_cores[key_of[r]];
  return domain_of;
}

// NICs: the nearest usable one. The pool is the first that is not empty of: fabric NICs that
// are up (a port ACTIVE, or no state reported), Ethernet NICs that are up (the fastest), fabric
// NICs whose ports are all down, Ethernet NICs that are down; so neither a down port nor a
// management Ethernet port wins over a working fabric NIC. In the pool the nearest wins, then
// the least used (rails), then the faster link.
void plan_nics(const NodeTopology& topo, const std::vector<std::vector<int>>& domain_of, Placement& out) {
  const int R = static_cast<int>(out.ranks.size()), N = static_cast<int>(topo.nics.size());
  auto names = [&](auto&& pred) {
    std::string s;
    for (const auto& n : topo.nics)
      if (pred(n)) s += (s.empty() ? "" : ", ") + n.name;
    return s;
  };
  enum Tier { up_fabric, up_ethernet, down_fabric, down_ethernet, none };
  auto members = [&](int tier) {
    const bool fabric = tier == up_fabric || tier == down_fabric, up = tier == up_fabric || tier == up_ethernet;
    auto in_tier = [&](const Nic& n) { return n.fabric == fabric && n.up == up; };
    double fastest = 0;
    for (const auto& n : topo.nics)
      if (in_tier(n)) fastest = std::max(fastest, n.link_gbps);
    std::vector<int> v;
    for (int i = 0; i < N; ++i)
      if (in_tier(topo.nics[i]) && (fabric || topo.nics[i].link_gbps >= fastest / 2)) v.push_back(i);
    return v;
  };
  int tier = up_fabric;
  std::vector<int> pool;
  while (tier < none && (pool = members(tier)).empty()) ++tier;
  if (pool.empty()) return;
  const bool any_fabric = std::any_of(topo.nics.begin(), topo.nics.end(), [](const Nic& n) { return n.fabric; });
  const std::string down = names([](const Nic& n) { return !n.up; });
  if (tier == up_fabric && !down.empty())
    out.notes.push_back("NIC(s) " + down + " have no ACTIVE port (hwloc PortNState): the plan uses the fabric " +
                        "NICs that have one");
  else if (tier == up_ethernet && any_fabric)
    out.notes.push_back("no port of the fabric NIC(s) " + names([](const Nic& n) { return n.fabric; }) +
                        " is ACTIVE (hwloc PortNState): the ranks fall back to Ethernet");
  else if (tier >= down_fabric)
    out.notes.push_back("no port of any NIC (" + down + ") is ACTIVE (hwloc PortNState) and no Ethernet NIC is " +
                        "up: the plan names NICs whose port is down");

  std::vector<int> used(topo.nics.size(), 0);
  for (int r = 0; r < R; ++r) {
    RankPlan& p = out.ranks[r];
    auto distance = [&](int i) {
      return p.gpus.empty() ? cpu_distance(topo, domain_of[r], topo.nics[i].loc)
                            : detail::pci_distance(topo.gpus[p.gpus[0]].loc, topo.nics[i].loc);
    };
    int best = -1, best_d = 99;
    for (int i : pool) {
      int d = distance(i);
      bool better = best < 0 || d < best_d || (d == best_d && used[i] < used[best]) ||
                    (d == best_d && used[i] == used[best] && topo.nics[i].link_gbps > topo.nics[best].link_gbps);
      if (better) best = i, best_d = d;
    }
    p.nic = best;
    ++used[best];
    const Nic& nic = topo.nics[best];
    const std::string ancestor = p.gpus.empty() ? "" : topo.gpus[p.gpus[0]].loc.ancestor_type;
    // Fabric NICs nearer than the one taken, passed over because no port of theirs is ACTIVE.
    std::string skipped;
    if (tier == up_fabric)
      for (int i = 0; i < N; ++i)
        if (topo.nics[i].fabric && !topo.nics[i].up && distance(i) < best_d)
          skipped += (skipped.empty() ? "" : ", ") + topo.nics[i].name;
    p.reason += "; NIC " + nic.name + " ";
    if (!skipped.empty())
      p.reason += distance_words(best_d, !p.gpus.empty(), ancestor, "") +
                  ", the nearest NIC with an active port (nearer, port down: " + skipped + ")";
    else
      p.reason += distance_words(best_d, !p.gpus.empty(), ancestor, nic.fabric ? "fabric NIC" : "NIC");
    if (tier == up_ethernet && any_fabric) p.reason += " (no fabric NIC has an active port)";
    if (tier >= down_fabric) p.reason += " (its port is down: no NIC has an active port)";
  }
}

}  // namespace

Placement plan_placement(const NodeTopology& topo, const PlanRequest& req) {
  const int R = req.local_size;
  if (R < 1) throw Error(Errc::invalid_setting, "cannot plan for " + std::to_string(R) + " local ranks");
  if (topo.cores.empty()) throw Error(Errc::invalid_setting, "the topology (" + topo.origin + ") has no usable core");
  if (!req.visible.empty() && req.visible.size() != 1 && static_cast<int>(req.visible.size()) != R)
    throw Error(Errc::internal, "visible GPU lists: " + std::to_string(req.visible.size()) + " for " +
                                    std::to_string(R) + " ranks");
  if (!req.oversubscribe && static_cast<int>(topo.cores.size()) < R)
    throw Error(Errc::invalid_setting, std::to_string(R) + " local ranks but the CPUs this process may use (" +
                                           topo.origin + ") hold only " + std::to_string(topo.cores.size()) +
                                           " cores, and MPINIT_OVERSUBSCRIBE=off forbids sharing them");
  Placement out;
  out.ranks.resize(R);
  for (int r = 0; r < R; ++r) out.ranks[r].local_rank = r;

  plan_gpus(topo, req, out);
  plan_nics(topo, plan_cpus(topo, out), out);
  for (auto& p : out.ranks)
    if (!p.gpus.empty()) {
      const Gpu& g = topo.gpus[p.gpus[0]];
      p.reason = "GPU " + g.name + " (" + g.loc.busid + ") under " + g.loc.ancestor_type + "; " + p.reason;
    }
  return out;
}

}  // namespace v2
}  // namespace mpinit
