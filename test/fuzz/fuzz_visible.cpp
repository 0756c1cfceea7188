// Fuzz target: visible-GPU lists (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, HIP_VISIBLE_DEVICES)
// resolved against a node's GPUs (resolve_visible, visible_from_env). Input: bytes that shape the
// node (test/fuzz/topo.hpp), then NAME=VALUE lines. A resolved list holds distinct GPUs of the
// variable's vendor, one per entry, each the GPU its index or UUID prefix names; an error names
// the variable.
#include <set>
#include <string>

#include "topo.hpp"

using namespace mpinit;

namespace {

void check_list(const NodeTopology& t, const std::string& var, const std::string& value, const std::string& vendor) {
  std::vector<int> list;
  try {
    list = resolve_visible(t, var, value, vendor);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_environment && fuzz::names_one_of(e, {var}, "='"), e.what());
    return;
  }
  std::vector<std::string> entries;
  if (!value.empty()) {
    size_t pos = 0;
    for (size_t comma; (comma = value.find(',', pos)) != std::string::npos; pos = comma + 1)
      entries.push_back(value.substr(pos, comma - pos));
    entries.push_back(value.substr(pos));
  }
  FUZZ_CHECK(list.size() == entries.size(), var + "='" + value + "' gave " + std::to_string(list.size()) + " GPUs");
  std::set<int> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const int g = list[i];
    FUZZ_CHECK(g >= 0 && g < static_cast<int>(t.gpus.size()) && seen.insert(g).second,
               "GPU index " + std::to_string(g));
    const Gpu& gpu = t.gpus[g];
    if (!vendor.empty()) FUZZ_CHECK(gpu.vendor == vendor, var + " picked a GPU of " + gpu.vendor);
    const std::string& e = entries[i];
    if (e.find_first_not_of("0123456789") == std::string::npos) {
      FUZZ_CHECK(std::to_string(gpu.physical) == e.substr(std::min(e.find_first_not_of('0'), e.size() - 1)),
                 "entry '" + e + "' picked " + gpu.name);
    } else {
      std::string want = e, uuid = "gpu-" + gpu.uuid;
      for (auto* s : {&want, &uuid})
        for (auto& c : *s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      FUZZ_CHECK(uuid.rfind(want, 0) == 0 || uuid.rfind(want, 4) == 4, "entry '" + e + "' picked " + gpu.uuid);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const NodeTopology t = fuzz::make_topology(in);
  const EnvMap env = fuzz::env_of(fuzz::lines(in.rest()));
  for (const auto& [name, value] : env) {
    check_list(t, name, value, "");
    check_list(t, name, value, name == "CUDA_VISIBLE_DEVICES" ? "nvidia" : "amd");
  }
  std::string source;
  std::optional<std::vector<int>> vis;
  try {
    vis = visible_from_env(t, env, &source);
  } catch (const Error& e) {
    FUZZ_CHECK(fuzz::names_one_of(e, {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES"}, "='"),
               e.what());
    return 0;
  }
  if (!vis) return 0;
  FUZZ_CHECK(!source.empty(), "a list without its source");
  std::set<int> seen;
  for (int g : *vis)
    FUZZ_CHECK(g >= 0 && g < static_cast<int>(t.gpus.size()) && seen.insert(g).second,
               "GPU index " + std::to_string(g));
  return 0;
}
