// Fuzz target: CPU lists (parse_cpus: `mpinit plan --cpus`, the allowed CPUs of load_topology).
// Input: the list. The result is sorted, unique and non-negative, and format_cpus writes it back
// as a list that parses to itself; an error names the input.
#include <algorithm>
#include <string>

#include "fuzz.hpp"
#include "mpinit/topology.hpp"

using namespace mpinit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string list = fuzz::c_string(data, size);
  std::vector<int> cpus;
  try {
    cpus = parse_cpus("--cpus", list);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_setting && fuzz::names_one_of(e, {"--cpus"}, "='"), e.what());
    return 0;
  }
  FUZZ_CHECK(!cpus.empty() && cpus.front() >= 0, "'" + list + "'");
  FUZZ_CHECK(std::adjacent_find(cpus.begin(), cpus.end(), [](int a, int b) { return a >= b; }) == cpus.end(),
             "not sorted and unique: '" + list + "'");
  const std::string back = format_cpus(cpus);
  FUZZ_CHECK(parse_cpus("--cpus", back) == cpus, "'" + list + "' -> '" + back + "'");
  return 0;
}
