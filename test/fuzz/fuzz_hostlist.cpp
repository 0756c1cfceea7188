// Fuzz target: Slurm host lists (expand_hostlist). Input: the list. Every host is a non-empty name
// without separators, a list without brackets is its own comma split, and expanding the
// expansion gives it back; an error names the variable. The list is also worked out without
// expanding it (fuzz::HostlistModel, the grammar and bounds of lib/env/hostlist.cpp) and must
// agree: accepted or refused alike, and as many hosts. A list that would build more than kBudget
// hosts is expanded for a deterministic share of inputs only (lists.hpp: such lists held this
// target under 500 executions per second); the replay build expands every input, and
// regressions/hostlist/ holds lists at the bounds.
#include <string>

#include "fuzz.hpp"
#include "lists.hpp"
#include "mpinit/env.hpp"

using namespace mpinit;

namespace {
constexpr uint64_t kBudget = 1024;  // hosts a list may build and always be expanded
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string list = fuzz::c_string(data, size);
  const fuzz::HostlistModel model(list);
  if (fuzz::costly_skip(model.work, kBudget, list)) return 0;
  std::vector<std::string> hosts;
  try {
    hosts = expand_hostlist(list, "SLURM_JOB_NODELIST");
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_environment && fuzz::names_one_of(e, {"SLURM_JOB_NODELIST"}, "='"), e.what());
    FUZZ_CHECK(!model.accepted, "refused, but the model expands '" + list + "' to " + std::to_string(model.hosts) +
                                    " hosts: " + e.what());
    return 0;
  }
  FUZZ_CHECK(model.accepted && model.hosts == hosts.size(),
             "'" + list + "' expands to " + std::to_string(hosts.size()) + " hosts, the model says " +
                 (model.accepted ? std::to_string(model.hosts) : "it is refused"));
  FUZZ_CHECK(!hosts.empty() && hosts.size() <= (size_t{1} << 20), std::to_string(hosts.size()) + " hosts");
  // Per-host checks of a list this long would cost more than its expansion: its ends stand for it.
  const bool all = hosts.size() <= 4096;
  std::string joined;
  for (const auto& h : all ? hosts : std::vector<std::string>{hosts.front(), hosts.back()}) {
    FUZZ_CHECK(!h.empty() && h.find_first_of(",[] \t\n\r\v\f") == std::string::npos, "host '" + h + "'");
    joined += (joined.empty() ? "" : ",") + h;
  }
  if (!all) return 0;
  if (list.find('[') == std::string::npos) FUZZ_CHECK(joined == list, "'" + list + "' -> '" + joined + "'");
  FUZZ_CHECK(expand_hostlist(joined) == hosts, "expanding the expansion of '" + list + "'");
  return 0;
}
