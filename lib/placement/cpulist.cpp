// CPU lists: "0-3,8,10-11" <-> 0 1 2 3 8 10 11.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

std::vector<int> parse_cpus(const std::string& what, const std::string& list) {
  constexpr int kMaxCpu = 65535;  // above any kernel's NR_CPUS: a typo, not a machine
  std::vector<int> out;
  std::vector<std::pair<int, int>> ranges;
  size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_setting, what + "='" + list + "' is not a CPU list like 0-3,8: " + why);
  };
  if (list.empty()) throw bad("it is empty");
  while (true) {
    size_t comma = list.find(',', pos);
    std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = item.find('-');
    std::string a = item.substr(0, dash), b = dash == std::string::npos ? a : item.substr(dash + 1);
    for (const auto& x : {a, b})
      if (x.empty() || x.size() > 7 || x.find_first_not_of("0123456789") != std::string::npos)
        throw bad("'" + item + "' is not a number or a range");
    int lo = std::stoi(a), hi = std::stoi(b);
    if (lo > hi) throw bad("range '" + item + "' runs backwards");
    if (hi > kMaxCpu) throw bad("CPU " + b + " is above " + std::to_string(kMaxCpu));
    ranges.push_back({lo, hi});
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // Sorted and without repeats, in time bounded by kMaxCpu however the ranges overlap.
  std::sort(ranges.begin(), ranges.end());
  for (const auto& [lo, hi] : ranges)
    for (int c = out.empty() ? lo : std::max(lo, out.back() + 1); c <= hi; ++c) out.push_back(c);
  return out;
}

std::string format_cpus(const std::vector<int>& cpus) {
  std::vector<int> v(cpus);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace v2
}  // namespace mpinit
