// Fuzz target: the placement planner (plan_placement) over topologies built from the input
// (test/fuzz/topo.hpp), and exec's visible list for each planned rank. Every plan obeys
// check_plan; an impossible request is an Error(invalid_setting).
#include <string>

#include "topo.hpp"

using namespace mpinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const NodeTopology t = fuzz::make_topology(in);
  const PlanRequest req = fuzz::make_request(in, t);
  Placement p;
  try {
    p = plan_placement(t, req);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_setting, e.what());
    return 0;
  }
  fuzz::check_plan(t, req, p);
  for (const auto& rp : p.ranks) {
    // The rank's visible variable, as the launcher would have set it: its list's physical
    // indices, when the list is of one vendor's GPUs.
    EnvMap env;
    if (!req.visible.empty()) {
      const auto& vis = req.visible.size() == 1 ? req.visible[0] : req.visible[rp.local_rank];
      if (vis.empty()) continue;
      std::string vendor = t.gpus[vis[0]].vendor;
      std::string value;
      for (int g : vis) {
        if (t.gpus[g].vendor != vendor) vendor.clear();
        value += (value.empty() ? "" : ",") + std::to_string(t.gpus[g].physical);
      }
      if (vendor != "nvidia" && vendor != "amd") continue;
      env[vendor == "amd" ? "ROCR_VISIBLE_DEVICES" : "CUDA_VISIBLE_DEVICES"] = value;
    }
    fuzz::check_exec_visible(t, rp, env);
  }
  return 0;
}
