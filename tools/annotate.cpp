// mpinit plan --annotate: the topology with the plan drawn in, for lstopo.
#include <fmt/format.h>

#include <iostream>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"
#if MPINIT_HAVE_HWLOC
#include <hwloc.h>
#endif

namespace tool {

int annotate_plan(const std::string& xml_in, const std::string& cpus, int ranks, const std::string& policy,
                  const std::string& visible, const std::string& out) {
#if MPINIT_HAVE_HWLOC
  try {
    mpinit::NodeTopology t = xml_in.empty() ? mpinit::discover_topology() : mpinit::load_topology(xml_in, cpus);
    mpinit::PlanRequest req;
    req.local_size = ranks;
    req.policy = parse_policy(policy);
    if (!visible.empty()) req.visible = {mpinit::resolve_visible(t, "--visible", visible, "")};
    mpinit::Placement plan = mpinit::plan_placement(t, req);

    hwloc_topology_t topo;
    hwloc_topology_init(&topo);
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter(topo, HWLOC_OBJ_MISC, HWLOC_TYPE_FILTER_KEEP_ALL);  // else no Misc can be inserted
    if (!xml_in.empty() && hwloc_topology_set_xml(topo, xml_in.c_str()) != 0) {
      hwloc_topology_destroy(topo);
      throw mpinit::Error(mpinit::Errc::invalid_setting, "cannot read " + xml_in);
    }
    hwloc_topology_load(topo);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (const auto& p : plan.ranks) {
      std::string label = fmt::format("rank {}", p.local_rank);
      // The rank's box sits inside the smallest object covering its CPUs.
      hwloc_bitmap_zero(set);
      for (int pu : p.cpus) hwloc_bitmap_set(set, static_cast<unsigned>(pu));
      hwloc_obj_t where = hwloc_get_obj_covering_cpuset(topo, set);
      if (!where) where = hwloc_get_root_obj(topo);
      std::string what = label + ": cpus " + mpinit::format_cpus(p.cpus);
      for (int g : p.gpus) what += " " + t.gpus[g].name;
      if (p.nic >= 0) what += " " + t.nics[p.nic].name;
      hwloc_obj_t m = hwloc_topology_insert_misc_object(topo, where, what.c_str());
      if (m) hwloc_obj_add_info(m, "mpinitLocalRank", std::to_string(p.local_rank).c_str());
      // And a box under its GPU(s) and its NIC.
      auto mark = [&](const std::string& busid) {
        if (hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(topo, busid.c_str()))
          hwloc_topology_insert_misc_object(topo, pci, label.c_str());
      };
      for (int g : p.gpus) mark(t.gpus[g].loc.busid);
      if (p.nic >= 0) mark(t.nics[p.nic].loc.busid);
    }
    hwloc_bitmap_free(set);
    int rc = hwloc_topology_export_xml(topo, out.c_str(), 0);
    hwloc_topology_destroy(topo);
    if (rc != 0) throw mpinit::Error(mpinit::Errc::invalid_setting, "cannot write " + out);
    fmt::print("wrote {} ({} ranks); draw it with: lstopo -i {} (or lstopo-no-graphics -i {})\n", out, ranks, out, out);
    return 0;
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit plan: " << e.what() << std::endl;
    return 2;
  }
#else
  (void)xml_in, (void)cpus, (void)ranks, (void)policy, (void)visible, (void)out;
  std::cerr << "mpinit plan: --annotate needs hwloc, and mpinit was built without it" << std::endl;
  return 2;
#endif
}

}  // namespace tool
