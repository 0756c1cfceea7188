// Fuzz target: launcher environments (parse_launch_env) and the rendezvous values taken from them.
// Input: NAME=VALUE lines. A successful parse describes a possible process: indices below their
// counts, every value from a variable that is set and says that number; an error names a variable.
// An input whose Slurm node lists and tasks-per-node strings would build more than kBudget entries
// is parsed for a deterministic share of inputs only (lists.hpp: such inputs held a long run at 509
// executions per second, close to its 2 GB memory limit); the replay build parses every input.
#include <cstdlib>
#include <string>

#include "fuzz.hpp"
#include "lists.hpp"
#include "mpinit/env.hpp"
#include "mpinit/rendezvous.hpp"

using namespace mpinit;

namespace {

constexpr uint64_t kBudget = 1024;  // entries the lists of an input may build and always be parsed

// About how many hosts and nodes parse_launch_env's lists build (each one it could read).
uint64_t list_work(const EnvMap& env) {
  uint64_t work = 0;
  for (const char* var : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"})
    if (auto it = env.find(var); it != env.end()) work += fuzz::HostlistModel(it->second).work;
  for (const char* var : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"})
    if (auto it = env.find(var); it != env.end()) work += fuzz::TasksModel(it->second).work;
  return work;
}

// A LaunchEnv number as the optional value it stands for (kUnknown: not given).
std::optional<Sourced<int>> given(int value, const std::string& source) {
  if (value == kUnknown) return std::nullopt;
  return Sourced<int>{value, source};
}

std::string show(const std::optional<Sourced<int>>& v) {
  return v ? v->source + "=" + std::to_string(v->value) : std::string("unset");
}

void check_value(const EnvMap& env, const std::optional<Sourced<int>>& v, int min) {
  if (!v) return;
  auto it = env.find(v->source);
  FUZZ_CHECK(it != env.end(), "value from a variable that is not set: " + show(v));
  FUZZ_CHECK(v->value >= min, show(v));
  // A plain variable says this number (tasks-per-node lists are decoded, not read as one number).
  if (!fuzz::contains(v->source, "TASKS_PER_NODE"))
    FUZZ_CHECK(std::strtoll(it->second.c_str(), nullptr, 10) == v->value,
               show(v) + " but the variable is '" + it->second + "'");
}

void check_below(const std::optional<Sourced<int>>& x, const std::optional<Sourced<int>>& y, bool or_equal) {
  if (x && y) FUZZ_CHECK(or_equal ? x->value <= y->value : x->value < y->value, show(x) + " vs " + show(y));
}

void check_rendezvous(const EnvMap& env) {
  if (auto a = env.find("MASTER_ADDR"); a != env.end()) {
    try {
      validate_master_addr("MASTER_ADDR", a->second);
      FUZZ_CHECK(!a->second.empty() && a->second.find_first_of(" \t\n;$`'\"") == std::string::npos,
                 "address accepted for a child environment: '" + a->second + "'");
    } catch (const Error& e) {
      FUZZ_CHECK(fuzz::names_one_of(e, {"MASTER_ADDR"}, "='"), e.what());
    }
  }
  if (auto p = env.find("MASTER_PORT"); p != env.end()) {
    try {
      int port = parse_port("MASTER_PORT", p->second);
      FUZZ_CHECK(port >= 1 && port <= 65535, std::to_string(port));
      FUZZ_CHECK(parse_port("MASTER_PORT", std::to_string(port)) == port, "port does not round-trip");
    } catch (const Error& e) {
      FUZZ_CHECK(fuzz::names_one_of(e, {"MASTER_PORT"}, "='"), e.what());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const EnvMap env = fuzz::env_of(fuzz::lines(fuzz::text(data, size)));
  check_rendezvous(env);
  if (fuzz::costly_skip(list_work(env), kBudget, fuzz::text(data, size))) return 0;
  LaunchEnv e;
  try {
    e = parse_launch_env(env);
  } catch (const Error& err) {
    std::vector<std::string> names;
    for (const auto& kv : env) names.push_back(kv.first);
    FUZZ_CHECK(err.code() == Errc::invalid_environment, err.what());
    FUZZ_CHECK(fuzz::names_one_of(err, names, "="), std::string("the error names no variable: ") + err.what());
    return 0;
  }
  const Sources& src = e.sources;
  const auto rank = given(e.rank, src.rank), world = given(e.size, src.size),
             local_rank = given(e.local_rank, src.local_rank), local_size = given(e.local_size, src.local_size),
             node_rank = given(e.node_rank, src.node_rank), node_count = given(e.node_count, src.node_count);
  for (const auto* v : {&rank, &local_rank, &node_rank}) check_value(env, *v, 0);
  for (const auto* v : {&world, &local_size, &node_count}) check_value(env, *v, 1);
  check_below(rank, world, false);
  check_below(local_rank, local_size, false);
  check_below(node_rank, node_count, false);
  check_below(local_size, world, true);
  check_below(node_count, world, true);
  check_below(local_rank, rank, true);
  if (e.launcher == Launcher::none) FUZZ_CHECK(!rank && !world, "values without a launcher");
  for (Launcher l : e.also_present) FUZZ_CHECK(l != e.launcher, to_string(l));
  if (!e.nodes.empty() && node_count)
    FUZZ_CHECK(e.nodes.size() == static_cast<size_t>(e.node_count), show(node_count));
  for (const auto& n : e.nodes) FUZZ_CHECK(!n.empty(), "an empty host name");
  if (e.master_addr) FUZZ_CHECK(!e.master_addr->value.empty(), "empty MASTER_ADDR accepted");
  if (e.master_port) {
    int port = std::atoi(e.master_port->value.c_str());
    FUZZ_CHECK(port >= 1 && port <= 65535 && std::to_string(port) == e.master_port->value, e.master_port->value);
  }
  return 0;
}
