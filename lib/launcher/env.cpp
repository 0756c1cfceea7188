// Launcher environment -> LaunchEnv. Pure: reads only the EnvMap it is given.
#include <climits>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "core/parse.hpp"
#include "launcher/launcher.hpp"
#include "mpinit/env.hpp"

namespace mpinit {
inline namespace v2 {
namespace {

using detail::parse_int;
using Num = std::optional<Sourced<int>>;
using Names = std::initializer_list<const char*>;

// Which variables give what, for each launcher: the first of a list that is set is taken.
struct Layout {
  Launcher launcher;
  Names rank, size, local_rank, local_size, node_rank, node_count;
};
const Layout kLayouts[] = {
    {Launcher::torchrun, {"RANK"}, {"WORLD_SIZE"}, {"LOCAL_RANK"}, {"LOCAL_WORLD_SIZE"}, {"GROUP_RANK", "NODE_RANK"},
     {"GROUP_WORLD_SIZE"}},
    // Open MPI 4 (ORTE's orted) and 5 (PRRTE's prted; the OMPI_COMM_WORLD_* come from OpenPMIx's
    // pmdl/ompi component, src/mca/pmdl/ompi/pmdl_ompi.c in PMIx 4.2) both set
    // OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE,NODE_RANK}. Only ORTE (Open MPI <= 4) set a node
    // count, OMPI_MCA_orte_num_nodes; Open MPI 5 sets none (its OMPI_MCA_num_procs is the world size).
    {Launcher::openmpi, {"OMPI_COMM_WORLD_RANK"}, {"OMPI_COMM_WORLD_SIZE"}, {"OMPI_COMM_WORLD_LOCAL_RANK"},
     {"OMPI_COMM_WORLD_LOCAL_SIZE"}, {}, {"OMPI_MCA_orte_num_nodes"}},
    {Launcher::mvapich2, {"MV2_COMM_WORLD_RANK"}, {"MV2_COMM_WORLD_SIZE"}, {"MV2_COMM_WORLD_LOCAL_RANK"},
     {"MV2_COMM_WORLD_LOCAL_SIZE"}, {}, {}},
    // Flux's job shell (flux-core src/shell/task.c and shell.c, man flux-environment(7)) sets, in every
    // task, FLUX_TASK_RANK and FLUX_TASK_LOCAL_ID (the task's index among its node's tasks, in rank
    // order), and job-wide FLUX_JOB_SIZE (tasks) and FLUX_JOB_NNODES (job shells, one per node).
    // It sets no local size and no node index, so those stay unknown (identity_from_env fills the
    // local size of a one-node job). FLUX_JOB_ID is an F58 string (U+0192 or, in an ASCII locale,
    // "f", then base58 digits: "fD2e73NP"; decimal before flux-core 0.19) and is never read as a number.
    {Launcher::flux, {"FLUX_TASK_RANK"}, {"FLUX_JOB_SIZE"}, {"FLUX_TASK_LOCAL_ID"}, {}, {}, {"FLUX_JOB_NNODES"}},
    {Launcher::pals, {"PALS_RANKID"}, {"PMI_SIZE"}, {"PALS_LOCAL_RANKID", "PMI_LOCAL_RANK"},
     {"PALS_LOCAL_SIZE", "PMI_LOCAL_SIZE"}, {"PALS_NODEID"}, {}},
    {Launcher::jsm, {"JSM_NAMESPACE_RANK"}, {"JSM_NAMESPACE_SIZE"}, {"JSM_NAMESPACE_LOCAL_RANK"},
     {"JSM_NAMESPACE_LOCAL_SIZE"}, {}, {}},
    {Launcher::hydra, {"PMI_RANK"}, {"PMI_SIZE"}, {"MPI_LOCALRANKID"}, {"MPI_LOCALNRANKS"}, {}, {}},
    // Slurm's local size comes from its tasks-per-node list (fill_slurm_lists).
    {Launcher::slurm, {"SLURM_PROCID"}, {"SLURM_STEP_NUM_TASKS", "SLURM_NTASKS", "SLURM_NPROCS"}, {"SLURM_LOCALID"},
     {}, {"SLURM_NODEID"}, {"SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"}},
    {Launcher::pmix, {"PMIX_RANK"}, {}, {}, {}, {}, {}},
    {Launcher::torch_env, {"RANK"}, {"WORLD_SIZE"}, {"LOCAL_RANK"}, {"LOCAL_WORLD_SIZE"}, {"GROUP_RANK", "NODE_RANK"},
     {"GROUP_WORLD_SIZE"}},
};

// What the chosen launcher's variables say, before it becomes a LaunchEnv.
struct Parsed {
  Num rank, size, local_rank, local_size, node_rank, node_count;
};

class Reader {
 public:
  explicit Reader(const EnvMap& env) : env_(env) {}
  bool has(const char* name) const { return env_.count(name) != 0; }
  const std::string* get(const char* name) const {
    auto it = env_.find(name);
    return it == env_.end() ? nullptr : &it->second;
  }
  // The first of `names` that is set, parsed strictly as an integer >= min.
  Num num(Names names, long min = 0) const {
    for (const char* n : names)
      if (const std::string* v = get(n)) return Sourced<int>{parse_int(n, *v, min, INT_MAX), n};
    return std::nullopt;
  }

 private:
  const EnvMap& env_;
};

std::string show(const Sourced<int>& v) { return v.source + "=" + std::to_string(v.value); }

// x must be below y (an index within a count).
void require_below(const Num& x, const Num& y, const char* rule) {
  if (x && y && x->value >= y->value)
    throw Error(Errc::invalid_environment, show(*x) + " is not below " + show(*y) + " (" + rule + ")");
}
// x must not exceed y (a count within a count).
void require_at_most(const Num& x, const Num& y, const char* rule) {
  if (x && y && x->value > y->value)
    throw Error(Errc::invalid_environment, show(*x) + " is larger than " + show(*y) + " (" + rule + ")");
}

// The rules every launcher's values obey.
void validate(const Parsed& e) {
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
    case Launcher::flux: return r.has("FLUX_TASK_RANK");
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

Parsed read_layout(const Reader& r, const Layout& l) {
  Parsed p;
  p.rank = r.num(l.rank);
  p.size = r.num(l.size, 1);
  p.local_rank = r.num(l.local_rank);
  p.local_size = r.num(l.local_size, 1);
  p.node_rank = r.num(l.node_rank);
  p.node_count = r.num(l.node_count, 1);
  return p;
}

// Slurm's node list and tasks per node (after its plain values are known to be valid).
void fill_slurm_lists(const Reader& r, Parsed& e, LaunchEnv& out) {
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
      out.notes.push_back(std::string(var) + " lists " + std::to_string(hosts.size()) +
                          " hosts, the step has " + std::to_string(e.node_count->value) + "; not used");
      continue;
    }
    out.nodes = std::move(hosts);
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

void put(const Num& n, int& value, std::string& source) {
  if (!n) return;
  value = n->value;
  source = n->source;
}

}  // namespace

LaunchEnv parse_launch_env(const EnvMap& env) {
  const Reader r(env);
  LaunchEnv e;

  // Flux is a resource manager and a launcher: its shell's per-task variables describe the task better
  // than the PMI_RANK/PMI_SIZE of its pmi plugin, the PALS_RANKID of flux-coral2's cray-pals plugin, or
  // the JSM_*/SLURM_* of a jsrun or srun that started the Flux instance (a broker clears SLURM_* and
  // PMI_* for its jobs since flux-core 0.51, PMIX_* since 0.82, PALS_* since 0.88, and never JSM_*).
  // An mpirun started inside a Flux job is inner to it, so Open MPI and MVAPICH2 come first.
  static constexpr Launcher priority[] = {Launcher::torchrun, Launcher::openmpi, Launcher::mvapich2,
                                          Launcher::flux,     Launcher::pals,    Launcher::jsm,
                                          Launcher::hydra,    Launcher::slurm,   Launcher::pmix,
                                          Launcher::torch_env};
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

  Parsed p;
  for (const Layout& l : kLayouts)
    if (l.launcher == e.launcher) p = read_layout(r, l);
  if (e.launcher == Launcher::openmpi && r.has("OMPI_COMM_WORLD_NODE_RANK"))
    e.notes.push_back("OMPI_COMM_WORLD_NODE_RANK is a rank within the node, not the node index; not used");
  if (e.launcher == Launcher::slurm) {
    validate(p);  // plain values first, so their errors name them rather than the lists
    fill_slurm_lists(r, p, e);
  }
  validate(p);
  put(p.rank, e.rank, e.sources.rank);
  put(p.size, e.size, e.sources.size);
  put(p.local_rank, e.local_rank, e.sources.local_rank);
  put(p.local_size, e.local_size, e.sources.local_size);
  put(p.node_rank, e.node_rank, e.sources.node_rank);
  put(p.node_count, e.node_count, e.sources.node_count);

  if (const std::string* a = r.get("MASTER_ADDR")) {
    if (a->empty()) throw Error(Errc::invalid_environment, "MASTER_ADDR='' is empty (must be a host name or address)");
    e.master_addr = Sourced<std::string>{*a, "MASTER_ADDR"};
  }
  if (const std::string* port = r.get("MASTER_PORT"))
    e.master_port = Sourced<std::string>{std::to_string(parse_int("MASTER_PORT", *port, 1, 65535)), "MASTER_PORT"};
  return e;
}

}  // namespace v2
}  // namespace mpinit

namespace mpinit::detail {

namespace {

std::string first_number(const EnvMap& env, Names Layout::*field) {
  for (const Layout& l : kLayouts)
    for (const char* var : l.*field) {
      auto it = env.find(var);
      if (it != env.end() && !it->second.empty() &&
          it->second.find_first_not_of("0123456789") == std::string::npos && it->second.size() < 10)
        return it->second;
    }
  return "?";
}

}  // namespace

std::string rank_for_messages(const EnvMap& env) { return first_number(env, &Layout::rank); }
std::string local_rank_for_messages(const EnvMap& env) { return first_number(env, &Layout::local_rank); }
std::string local_size_for_messages(const EnvMap& env) { return first_number(env, &Layout::local_size); }

}  // namespace mpinit::detail
