// Visible-device lists (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES) -> GPUs.
#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "core/parse.hpp"
#include "mpinit/error.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string gpu_names(const NodeTopology& topo, const std::string& vendor) {
  std::string s;
  for (const auto& g : topo.gpus)
    if (vendor.empty() || g.vendor == vendor)
      s += (s.empty() ? "" : ", ") + std::to_string(g.physical) + " (" + g.name + ")";
  return s.empty() ? "none" : s;
}

}  // namespace

std::vector<int> resolve_visible(const NodeTopology& topo, const std::string& var, const std::string& value,
                                 const std::string& vendor) {
  std::vector<int> out;
  if (value.empty()) return out;  // an empty list hides every GPU
  size_t pos = 0;
  while (true) {
    size_t comma = value.find(',', pos);
    std::string item = value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const std::string head = var + "='" + value + "': entry '" + item + "' ";
    if (item.empty()) throw Error(Errc::invalid_environment, head + "is empty");
    int found = -1;
    if (item.find_first_not_of("0123456789") == std::string::npos) {
      int idx = detail::parse_int(var, item, 0, 1 << 20);
      for (size_t g = 0; g < topo.gpus.size(); ++g)
        if ((vendor.empty() || topo.gpus[g].vendor == vendor) && topo.gpus[g].physical == idx) found = static_cast<int>(g);
      if (found < 0)
        throw Error(Errc::invalid_environment,
                    head + "names a GPU that does not exist on this node (GPUs: " + gpu_names(topo, vendor) + ")");
    } else {
      // A UUID or a unique prefix of one ("GPU-8932f937", "MIG-..." is not a whole GPU).
      const std::string want = lower(item);
      int matches = 0;
      for (size_t g = 0; g < topo.gpus.size(); ++g) {
        std::string uuid = lower(topo.gpus[g].uuid);
        if (uuid.empty() || (!vendor.empty() && topo.gpus[g].vendor != vendor)) continue;
        if (uuid.rfind(want, 0) == 0 || ("gpu-" + uuid).rfind(want, 0) == 0) {
          found = static_cast<int>(g);
          ++matches;
        }
      }
      if (matches > 1) throw Error(Errc::invalid_environment, head + "matches more than one GPU's UUID");
      if (found < 0)
        throw Error(Errc::invalid_environment,
                    head + "is not an index and matches no GPU UUID the topology reports (GPUs: " +
                        gpu_names(topo, vendor) + ")");
    }
    if (std::find(out.begin(), out.end(), found) != out.end())
      throw Error(Errc::invalid_environment, head + "names a GPU listed before it");
    out.push_back(found);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::optional<std::vector<int>> visible_from_env(const NodeTopology& topo, const EnvMap& env, std::string* source) {
  struct Var {
    const char* name;
    const char* vendor;
  };
  std::optional<std::vector<int>> nvidia, amd;
  std::string src;
  for (Var v : {Var{"CUDA_VISIBLE_DEVICES", "nvidia"}, Var{"ROCR_VISIBLE_DEVICES", "amd"}, Var{"HIP_VISIBLE_DEVICES", "amd"}}) {
    auto it = env.find(v.name);
    if (it == env.end()) continue;
    auto& slot = std::string(v.vendor) == "nvidia" ? nvidia : amd;
    if (slot) continue;  // ROCR_VISIBLE_DEVICES before HIP_VISIBLE_DEVICES
    bool any = std::any_of(topo.gpus.begin(), topo.gpus.end(), [&](const Gpu& g) { return g.vendor == v.vendor; });
    if (!any) continue;  // a variable for GPUs this node does not have
    slot = resolve_visible(topo, v.name, it->second, v.vendor);
    src += (src.empty() ? "" : "+") + std::string(v.name);
  }
  if (!nvidia && !amd) return std::nullopt;
  std::vector<int> out;
  if (nvidia) out = *nvidia;
  if (amd) out.insert(out.end(), amd->begin(), amd->end());
  if (source) *source = src;
  return out;
}

}  // namespace v2
}  // namespace mpinit
