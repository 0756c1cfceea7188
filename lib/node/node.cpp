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

void load_node(MPI_Comm local, const Sourced<std::string>& setting, NodeState& out) {
  const std::string& file = setting.value;
  int lrank = 0;
  if (local != MPI_COMM_NULL) MPI_Comm_rank(local, &lrank);
  std::string error, xml;
  long header[2] = {-1, 0};  // XML length (-1: the leader failed), this_system
  if (lrank == 0) {
    try {
      auto t = std::make_shared<HwlocTopology>(file.empty() ? HwlocTopology::discover()
                                                            : HwlocTopology::from_file(file));
      out.discovered = true;
      out.this_system = t->is_this_system();
      out.node = inventory(*t, file.empty() ? "discovered" : file);
      out.hwloc = std::move(t);
      if (local != MPI_COMM_NULL) xml = out.hwloc->to_xml();
      header[0] = static_cast<long>(xml.size());
      header[1] = out.this_system ? 1 : 0;
    } catch (const Error& e) {
      error = file.empty() ? e.what() : setting.source + ": " + e.what();
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
  const std::string origin = file.empty() ? "imported from the local leader" : file + " (via the local leader)";
  auto t = std::make_shared<HwlocTopology>(HwlocTopology::from_buffer(xml, "sent by the local leader", header[1] != 0));
  out.this_system = header[1] != 0 && t->is_this_system();
  out.node = inventory(*t, origin);
  out.hwloc = std::move(t);
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
  if (settings.export_net.value && plan.nic >= 0) {
    for (const auto& [var, value] : net_exports(st.node.nics[plan.nic])) {
      auto it = env.find(var);
      if (it != env.end()) {
        log.debug("MPINIT_EXPORT_NET: " + var + "='" + it->second + "' is set by the user; left as it is");
        continue;
      }
      ::setenv(var.c_str(), value.c_str(), 1);
      done += (done.empty() ? "" : "; ") + var + "=" + value;
    }
  }
  if (settings.bind.value && !plan.cpus.empty()) {
    std::string warning = bind_process(*st.hwloc, plan.cpus, settings.membind.value);
    if (!warning.empty()) log.warn(warning);
    done += (done.empty() ? "" : "; ") + std::string("bound to CPUs ") + format_cpus(plan.cpus) +
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
