// Fuzz target: Slurm tasks-per-node strings (decode_tasks_per_node). Input: the string. Every
// count is in [1, 2^31-1], and the decoded list (up to 65536 nodes), written back as N(xM) runs,
// decodes to itself; an error names the variable. The string is also worked out without decoding
// it (fuzz::TasksModel) and must agree: accepted or refused alike, and as many nodes. A string
// that would decode to more than kBudget nodes is decoded for a deterministic share of inputs only
// (lists.hpp: such strings took a long run from 18,000 down to 1,900 executions per second); the
// replay build decodes every input, and regressions/tasks_per_node/ holds strings at the bound.
#include <climits>
#include <string>

#include "fuzz.hpp"
#include "lists.hpp"
#include "mpinit/env.hpp"

using namespace mpinit;

namespace {
constexpr uint64_t kBudget = 4096;  // nodes a string may decode to and always be decoded
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spec = fuzz::c_string(data, size);
  const fuzz::TasksModel model(spec);
  if (fuzz::costly_skip(model.work, kBudget, spec)) return 0;
  std::vector<int> tasks;
  try {
    tasks = decode_tasks_per_node(spec, "SLURM_TASKS_PER_NODE");
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_environment && fuzz::names_one_of(e, {"SLURM_TASKS_PER_NODE"}, "='"),
               e.what());
    FUZZ_CHECK(!model.accepted, "refused, but the model decodes '" + spec + "' to " + std::to_string(model.nodes) +
                                    " nodes: " + e.what());
    return 0;
  }
  FUZZ_CHECK(model.accepted && model.nodes == tasks.size(),
             "'" + spec + "' decodes to " + std::to_string(tasks.size()) + " nodes, the model says " +
                 (model.accepted ? std::to_string(model.nodes) : "it is refused"));
  FUZZ_CHECK(!tasks.empty() && tasks.size() <= (size_t{1} << 20), std::to_string(tasks.size()) + " nodes");
  FUZZ_CHECK(tasks.front() >= 1 && tasks.back() >= 1, "'" + spec + "' gives a node no task");
  // The element-wise checks cost the instrumented build ~0.5 s per million nodes; a list that
  // long is checked by its ends only, so the fuzzer spends its time on the parser.
  if (tasks.size() > 65536) return 0;
  std::string runs;
  for (size_t i = 0; i < tasks.size();) {
    FUZZ_CHECK(tasks[i] >= 1, "'" + spec + "' gives a node " + std::to_string(tasks[i]) + " tasks");
    size_t j = i;
    while (j < tasks.size() && tasks[j] == tasks[i]) ++j;
    runs += (runs.empty() ? "" : ",") + std::to_string(tasks[i]);
    if (j - i > 1) runs += "(x" + std::to_string(j - i) + ")";
    i = j;
  }
  FUZZ_CHECK(decode_tasks_per_node(runs) == tasks, "'" + spec + "' -> '" + runs + "' does not decode to itself");
  return 0;
}
