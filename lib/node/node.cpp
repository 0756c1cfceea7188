#include "node/node.hpp"

#include <stdlib.h>

#include <algorithm>

#include "mpinit/error.hpp"
#include "mpinit/features.hpp"
#include "hw/topology.hpp"
#include "agree/agree.hpp"
#include "mpi/world.hpp"

#if MPINIT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mpinit::detail {

namespace {

// The topology as this rank will plan on it: its inventory, inside the binding the process
// started with unless MPINIT_REBIND=on (mpinit never widens a binding silently).
void adopt(std::shared_ptr<HwlocTopology> t, std::string origin, bool discovered, const LoadRequest& req,
           NodeState& out, const Logger& log) {
  out.discovered = discovered;
  out.this_system = t->is_this_system();
  if (out.this_system && !req.rebind) {
    const std::vector<int> allowed = t->allowed_cpus();
    std::vector<int> start;
    for (int c : initial_affinity())
      if (std::binary_search(allowed.begin(), allowed.end(), c)) start.push_back(c);
    if (!start.empty() && start.size() < allowed.size()) {
      t->restrict_allowed(start);
      log.info("the process started bound to CPUs " + format_cpus(start) + " of the allowed " + format_cpus(allowed) +
               ": planning inside them (MPINIT_REBIND=on replaces the binding instead)");
    }
  }
  out.node = inventory(*t, origin);
  out.hwloc = std::move(t);
  log.debug("topology: " + out.node.origin);
}

std::shared_ptr<HwlocTopology> load_here(const LoadRequest& req) {
  const std::string& file = req.file.value;
  return std::make_shared<HwlocTopology>(file.empty() ? HwlocTopology::discover() : HwlocTopology::from_file(file));
}

std::string origin_here(const LoadRequest& req) { return req.file.value.empty() ? "discovered" : req.file.value; }
std::string origin_imported(const LoadRequest& req) {
  return req.file.value.empty() ? "imported from the local leader" : req.file.value + " (via the local leader)";
}
std::string load_error(const LoadRequest& req, const Error& e) {
  return req.file.value.empty() ? e.what() : req.file.source + ": " + e.what();
}

}  // namespace

void load_node(MPI_Comm local, const LoadRequest& req, NodeState& out, const Logger& log) {
  int lrank = 0;
  if (local != MPI_COMM_NULL) MPI_Comm_rank(local, &lrank);
  std::string error, xml;
  long header[2] = {-1, 0};  // XML length (-1: the leader failed), this_system
  if (lrank == 0) {
    try {
      auto t = load_here(req);
      if (local != MPI_COMM_NULL) xml = t->to_xml();
      header[0] = static_cast<long>(xml.size());
      header[1] = t->is_this_system() ? 1 : 0;
      adopt(std::move(t), origin_here(req), true, req, out, log);
    } catch (const Error& e) {
      error = load_error(req, e);
      header[0] = -1;
    }
  }
  if (local != MPI_COMM_NULL) {
    check_mpi(MPI_Bcast(header, 2, MPI_LONG, 0, local), "MPI_Bcast(topology size)");
    if (header[0] >= 0) {
      xml.resize(static_cast<size_t>(header[0]));
      check_mpi(MPI_Bcast(xml.data(), static_cast<int>(header[0]), MPI_CHAR, 0, local), "MPI_Bcast(topology)");
    }
  }
  if (!error.empty()) throw Error(Errc::invalid_environment, error);
  if (lrank == 0 || header[0] < 0) return;
  adopt(std::make_shared<HwlocTopology>(HwlocTopology::from_buffer(xml, "sent by the local leader", header[1] != 0)),
        origin_imported(req), false, req, out, log);
}

bool load_node_shared(NodeShare* share, bool leader, const LoadRequest& req, NodeState& out, const Logger& log,
                      Deadline deadline, const std::string& timeout_setting, std::string* leader_error,
                      bool guessed) {
  if (!share || leader) {
    if (share) share->open_as_leader(log);
    try {
      auto t = load_here(req);
      if (share) share->publish({true, t->is_this_system(), t->to_xml()});
      adopt(std::move(t), origin_here(req), true, req, out, log);
    } catch (const Error& e) {
      if (share) share->publish({false, false, load_error(req, e)});
      throw Error(e.code() == Errc::system ? Errc::system : Errc::invalid_environment, load_error(req, e));
    }
    return true;
  }
  struct Done {  // whatever happens here, the leader may remove the share afterwards
    NodeShare* s;
    ~Done() { s->done(); }
  } done{share};
  const Deadline soon = std::chrono::steady_clock::now() + kGuessedKeyWait;
  std::optional<Published> got = share->receive(guessed ? std::min(deadline, soon) : deadline, timeout_setting, log,
                                                guessed);
  if (!got) {  // a guessed key, and nothing there: its leader may be looking elsewhere
    log.info("no topology appeared at " + share->dir() + " within " + std::to_string(kGuessedKeyWait.count()) +
             " s, and its key is a guess (a wrapper between the launcher and this rank?): discovering it here");
    return load_node_shared(nullptr, true, req, out, log, deadline, timeout_setting, leader_error);
  }
  const Published& p = *got;
  if (!p.ok) {
    if (leader_error) *leader_error = p.text;
    return false;
  }
  adopt(std::make_shared<HwlocTopology>(HwlocTopology::from_buffer(p.text, "published by the local leader at " +
                                                                                 share->dir(), p.this_system)),
        origin_imported(req), false, req, out, log);
  return true;
}

std::vector<std::vector<int>> visible_lists(MPI_Comm local, int local_size, const NodeTopology& node,
                                            const EnvMap& env, std::string* source) {
  std::optional<std::vector<int>> mine;
  std::string error;
  try {
    mine = visible_from_env(node, env, source);
  } catch (const Error& e) {
    error = e.what();
  }
  if (local == MPI_COMM_NULL) {  // env-only: assume every local rank sees what this one sees
    if (!error.empty()) throw Error(Errc::invalid_environment, error);
    return mine ? std::vector<std::vector<int>>{*mine} : std::vector<std::vector<int>>{};
  }
  // count per rank: -3 invalid, -2 not set, else the list's length
  int count = !error.empty() ? -3 : mine ? static_cast<int>(mine->size()) : -2;
  // The default path (no rank has a list) costs one small allreduce, whatever the ranks per node.
  int extremes[2] = {count, -count};
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, extremes, 2, MPI_INT, MPI_MAX, local), "MPI_Allreduce(visible GPUs)");
  if (-extremes[1] == -3) {  // some rank's list is invalid: it fails (agreed later), the others stop here
    if (!error.empty()) throw Error(Errc::invalid_environment, error);
    return {};
  }
  if (extremes[0] == -2) return {};
  std::vector<int> counts(local_size);
  check_mpi(MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, local), "MPI_Allgather(visible GPUs)");
  std::vector<int> lens(local_size), offs(local_size);
  int total = 0;
  for (int r = 0; r < local_size; ++r) offs[r] = total, lens[r] = std::max(counts[r], 0), total += lens[r];
  std::vector<int> all(total);
  std::vector<int> send = count > 0 ? *mine : std::vector<int>{};
  check_mpi(MPI_Allgatherv(send.data(), static_cast<int>(send.size()), MPI_INT, all.data(), lens.data(), offs.data(),
                           MPI_INT, local),
            "MPI_Allgatherv(visible GPUs)");
  std::vector<std::vector<int>> lists(local_size);
  std::vector<int> every(node.gpus.size());  // a rank without a list sees every GPU, by physical index
  for (size_t g = 0; g < every.size(); ++g) every[g] = static_cast<int>(g);
  std::stable_sort(every.begin(), every.end(),
                   [&](int a, int b) { return node.gpus[a].physical < node.gpus[b].physical; });
  for (int r = 0; r < local_size; ++r)
    lists[r] = counts[r] == -2 ? every : std::vector<int>(all.begin() + offs[r], all.begin() + offs[r] + lens[r]);
  if (std::all_of(lists.begin(), lists.end(), [&](const std::vector<int>& l) { return l == lists[0]; }))
    lists.resize(1);
  return lists;
}

std::string apply_plan(const NodeState& st, const RankPlan& plan, const Settings& settings, const Logger& log,
                       const EnvMap& env) {
  if (!st.this_system) return "not applied: the topology is not this machine's (" + st.node.origin + ")";
  std::string done;
  if (plan.nic >= 0) {
    for (const auto& [var, value] : net_exports(st.node.nics[plan.nic], settings.export_net.value)) {
      auto it = env.find(var);
      if (it != env.end()) {
        log.debug(settings.export_net.source + ": " + var + "='" + it->second + "' is set by the user; left as it is");
        continue;
      }
      ::setenv(var.c_str(), value.c_str(), 1);
      done += (done.empty() ? "" : "; ") + var + "=" + value;
    }
  }
  if (settings.bind.value && !plan.cpus.empty()) {
    std::string warning = bind_process(*st.hwloc, plan.cpus, settings.membind.value);
    if (!warning.empty()) log.warn(warning);
    done += std::string(done.empty() ? "" : "; ") + "bound to CPUs " + format_cpus(plan.cpus) +
            (settings.membind.value && warning.empty() ? " and their memory" : "");
  }
  if (!plan.gpus.empty()) {
    const Gpu& g = st.node.gpus[plan.gpus[0]];
#if MPINIT_HAVE_CUDA
    if (g.vendor == "nvidia") {
      int dev = -1;
      cudaError_t rc = cudaDeviceGetByPCIBusId(&dev, g.loc.busid.c_str());
      if (rc == cudaSuccess) rc = cudaSetDevice(dev);
      if (rc != cudaSuccess)
        throw Error(Errc::system, "cudaSetDevice for GPU " + g.name + " (" + g.loc.busid +
                                        ") failed: " + cudaGetErrorString(rc));
      done += (done.empty() ? "" : "; ") + std::string("cudaSetDevice(") + std::to_string(dev) + ") = " + g.loc.busid;
    }
#else
    log.debug("built without CUDA: GPU " + g.name + " is planned, not selected");
#endif
  }
  return done.empty() ? "nothing to apply" : done;
}

}  // namespace mpinit::detail
