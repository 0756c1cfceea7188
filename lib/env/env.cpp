// Launcher environment -> LaunchEnv. Pure: reads only the EnvMap it is given.
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <string>
#include <vector>

#include "mpinit/env.hpp"

extern char** environ;

namespace mpinit {
inline namespace v1 {

EnvMap process_env() {
  EnvMap env;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq) env.emplace(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

const char* launcher_name(Launcher l) noexcept {
  switch (l) {
    case Launcher::none: return "none";
    case Launcher::torchrun: return "torchrun";
    case Launcher::openmpi: return "openmpi";
    case Launcher::mvapich2: return "mvapich2";
    case Launcher::pals: return "pals";
    case Launcher::jsm: return "jsm";
    case Launcher::hydra: return "hydra";
    case Launcher::slurm: return "slurm";
    case Launcher::pmix: return "pmix";
    case Launcher::torch_env: return "torch_env";
  }
  return "?";
}

int parse_int(const std::string& name, const std::string& value, long min, long max, Errc code) {
  const std::string head = name + "='" + value + "' ";
  const char* s = value.c_str();
  if (value.empty() || std::isspace(static_cast<unsigned char>(s[0])) || s[0] == '+')
    throw Error(code, head + "is not an integer");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0') throw Error(code, head + "is not an integer");
  if (errno == ERANGE || v > INT_MAX || v < INT_MIN)
    throw Error(code, head + "is out of range (must be between " + std::to_string(min) + " and " +
                          std::to_string(max) + ")");
  if (v < min) {
    if (min == 0) throw Error(code, head + "is negative (must be >= 0)");
    throw Error(code, head + "is too small (must be >= " + std::to_string(min) + ")");
  }
  if (v > max) throw Error(code, head + "is too large (must be <= " + std::to_string(max) + ")");
  return static_cast<int>(v);
}

namespace {

class Reader {
 public:
  explicit Reader(const EnvMap& env) : env_(env) {}
  bool has(const char* name) const { return env_.count(name) != 0; }
  const std::string* get(const char* name) const {
    auto it = env_.find(name);
    return it == env_.end() ? nullptr : &it->second;
  }
  // The first of `names` that is set, parsed strictly as an integer >= min.
  std::optional<Sourced<int>> num(std::initializer_list<const char*> names, long min = 0) const {
    for (const char* n : names)
      if (const std::string* v = get(n)) return Sourced<int>{parse_int(n, *v, min, INT_MAX), n};
    return std::nullopt;
  }

 private:
  const EnvMap& env_;
};

std::string show(const Sourced<int>& v) { return v.source + "=" + std::to_string(v.value); }

// x must be below y (an index within a count).
void require_below(const std::optional<Sourced<int>>& x, const std::optional<Sourced<int>>& y,
                   const char* rule) {
  if (x && y && x->value >= y->value)
    throw Error(Errc::invalid_environment,
                show(*x) + " is not below " + show(*y) + " (" + rule + ")");
}
// x must not exceed y (a count within a count).
void require_at_most(const std::optional<Sourced<int>>& x, const std::optional<Sourced<int>>& y,
                     const char* rule) {
  if (x && y && x->value > y->value)
    throw Error(Errc::invalid_environment, show(*x) + " is larger than " + show(*y) + " (" + rule + ")");
}

// The rules every launcher's values obey.
void validate(const LaunchEnv& e) {
  require_below(e.rank, e.size, "a rank must be below the world size");
  require_below(e.local_rank, e.local_size, "a local rank must be below the local size");
  require_at_most(e.local_size, e.size, "a node cannot hold more ranks than the world");
  require_below(e.node_rank, e.node_count, "a node index must be below the node count");
  require_at_most(e.node_count, e.size, "every node holds at least one rank");
  require_at_most(e.local_rank, e.rank, "the ranks before this one on its node are ranks before it in the world");
}

bool in_slurm_step(const Reader& r) { return r.has("SLURM_STEP_ID") || r.has("SLURM_STEPID"); }

// Whose variables are present at all (launcher signatures).
bool present(const Reader& r, Launcher l) {
  switch (l) {
    case Launcher::torchrun: return r.has("TORCHELASTIC_RUN_ID") && r.has("RANK");
    case Launcher::openmpi: return r.has("OMPI_COMM_WORLD_RANK");
    case Launcher::mvapich2: return r.has("MV2_COMM_WORLD_RANK");
    case Launcher::pals: return r.has("PALS_RANKID");
    case Launcher::jsm: return r.has("JSM_NAMESPACE_RANK");
    case Launcher::hydra: return r.has("MPI_LOCALRANKID") || (r.has("PMI_RANK") && !in_slurm_step(r));
    case Launcher::slurm: return r.has("SLURM_PROCID") || r.has("SLURM_JOB_ID");
    case Launcher::pmix: return r.has("PMIX_RANK");
    case Launcher::torch_env: return r.has("RANK") && r.has("WORLD_SIZE");
    case Launcher::none: return false;
  }
  return false;
}

void fill_torch(const Reader& r, LaunchEnv& e) {
  e.rank = r.num({"RANK"});
  e.size = r.num({"WORLD_SIZE"}, 1);
  e.local_rank = r.num({"LOCAL_RANK"});
  e.local_size = r.num({"LOCAL_WORLD_SIZE"}, 1);
  e.node_rank = r.num({"GROUP_RANK", "NODE_RANK"});
  e.node_count = r.num({"GROUP_WORLD_SIZE"}, 1);
}

void fill_slurm(const Reader& r, LaunchEnv& e) {
  e.rank = r.num({"SLURM_PROCID"});
  e.size = r.num({"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"}, 1);
  e.local_rank = r.num({"SLURM_LOCALID"});
  e.node_rank = r.num({"SLURM_NODEID"});
  e.node_count = r.num({"SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"}, 1);
  validate(e);  // plain values first, so their errors name them rather than the lists below

  for (const char* var : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
    const std::string* v = r.get(var);
    if (!v) continue;
    auto hosts = expand_hostlist(*v, var);
    if (e.node_count && hosts.size() != static_cast<size_t>(e.node_count->value)) {
      if (std::string(var) == "SLURM_STEP_NODELIST")
        throw Error(Errc::invalid_environment,
                    std::string(var) + "='" + *v + "' lists " + std::to_string(hosts.size()) +
                        " hosts but " + show(*e.node_count) + " (the step's node list must match its node count)");
      // The job's list covers the allocation, which may be larger than the step.
      e.notes.push_back(std::string(var) + " lists " + std::to_string(hosts.size()) +
                        " hosts, the step has " + std::to_string(e.node_count->value) + "; not used");
      continue;
    }
    e.nodes = std::move(hosts);
    break;
  }

  for (const char* var : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    const std::string* v = r.get(var);
    if (!v) continue;
    auto tasks = decode_tasks_per_node(*v, var);
    const std::string head = std::string(var) + "='" + *v + "' ";
    if (e.node_count && tasks.size() != static_cast<size_t>(e.node_count->value))
      throw Error(Errc::invalid_environment, head + "describes " + std::to_string(tasks.size()) +
                                                 " nodes but " + show(*e.node_count));
    long long sum = 0;
    for (int t : tasks) sum += t;
    if (e.size && sum != e.size->value)
      throw Error(Errc::invalid_environment,
                  head + "sums to " + std::to_string(sum) + " tasks but " + show(*e.size));
    if (e.node_rank) {
      if (static_cast<size_t>(e.node_rank->value) >= tasks.size())
        throw Error(Errc::invalid_environment, show(*e.node_rank) + " is not below the " +
                                                   std::to_string(tasks.size()) + " nodes of " + var);
      e.local_size = Sourced<int>{tasks[e.node_rank->value], var};
    }
    break;
  }
}

}  // namespace

LaunchEnv parse_launch_env(const EnvMap& env) {
  const Reader r(env);
  LaunchEnv e;

  static constexpr Launcher priority[] = {Launcher::torchrun, Launcher::openmpi, Launcher::mvapich2,
                                          Launcher::pals,     Launcher::jsm,     Launcher::hydra,
                                          Launcher::slurm,    Launcher::pmix,    Launcher::torch_env};
  for (Launcher l : priority) {
    if (!present(r, l)) continue;
    if (l == Launcher::slurm && !in_slurm_step(r)) {
      // sbatch/salloc: SLURM_PROCID=0 and SLURM_NTASKS describe the allocation, not this process.
      e.notes.push_back("SLURM_* without SLURM_STEP_ID belong to the allocation (batch step); "
                        "not used for this process's rank and size");
      e.also_present.push_back(l);
      continue;
    }
    if (e.launcher == Launcher::none)
      e.launcher = l;
    else
      e.also_present.push_back(l);
  }

  switch (e.launcher) {
    case Launcher::torchrun:
    case Launcher::torch_env: fill_torch(r, e); break;
    case Launcher::openmpi:
      e.rank = r.num({"OMPI_COMM_WORLD_RANK"});
      e.size = r.num({"OMPI_COMM_WORLD_SIZE"}, 1);
      e.local_rank = r.num({"OMPI_COMM_WORLD_LOCAL_RANK"});
      e.local_size = r.num({"OMPI_COMM_WORLD_LOCAL_SIZE"}, 1);
      e.node_count = r.num({"OMPI_MCA_orte_num_nodes"}, 1);
      if (r.has("OMPI_COMM_WORLD_NODE_RANK"))
        e.notes.push_back("OMPI_COMM_WORLD_NODE_RANK is a rank within the node, not the node index; not used");
      break;
    case Launcher::mvapich2:
      e.rank = r.num({"MV2_COMM_WORLD_RANK"});
      e.size = r.num({"MV2_COMM_WORLD_SIZE"}, 1);
      e.local_rank = r.num({"MV2_COMM_WORLD_LOCAL_RANK"});
      e.local_size = r.num({"MV2_COMM_WORLD_LOCAL_SIZE"}, 1);
      break;
    case Launcher::pals:
      e.rank = r.num({"PALS_RANKID"});
      e.size = r.num({"PMI_SIZE"}, 1);
      e.local_rank = r.num({"PALS_LOCAL_RANKID", "PMI_LOCAL_RANK"});
      e.local_size = r.num({"PALS_LOCAL_SIZE", "PMI_LOCAL_SIZE"}, 1);
      e.node_rank = r.num({"PALS_NODEID"});
      break;
    case Launcher::jsm:
      e.rank = r.num({"JSM_NAMESPACE_RANK"});
      e.size = r.num({"JSM_NAMESPACE_SIZE"}, 1);
      e.local_rank = r.num({"JSM_NAMESPACE_LOCAL_RANK"});
      e.local_size = r.num({"JSM_NAMESPACE_LOCAL_SIZE"}, 1);
      break;
    case Launcher::hydra:
      e.rank = r.num({"PMI_RANK"});
      e.size = r.num({"PMI_SIZE"}, 1);
      e.local_rank = r.num({"MPI_LOCALRANKID"});
      e.local_size = r.num({"MPI_LOCALNRANKS"}, 1);
      break;
    case Launcher::slurm: fill_slurm(r, e); break;
    case Launcher::pmix: e.rank = r.num({"PMIX_RANK"}); break;
    case Launcher::none: break;
  }

  validate(e);

  if (const std::string* a = r.get("MASTER_ADDR")) {
    if (a->empty()) throw Error(Errc::invalid_environment, "MASTER_ADDR='' is empty (must be a host name or address)");
    e.master_addr = Sourced<std::string>{*a, "MASTER_ADDR"};
  }
  if (const std::string* p = r.get("MASTER_PORT"))
    e.master_port = Sourced<std::string>{std::to_string(parse_int("MASTER_PORT", *p, 1, 65535)), "MASTER_PORT"};
  return e;
}

}  // namespace v1
}  // namespace mpinit
