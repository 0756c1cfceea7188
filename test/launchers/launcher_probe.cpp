// One process of a launcher test: mpinit::launch, then one line on stdout, written at once.
//   OK {json}      identity with sources, the launcher environment, the plan of this rank, the
//                  launcher variables the test compares against, and (under MPI) whether an
//                  allreduce and a ring exchange over the whole world gave the right values;
//   ERROR message  the error launch() raised (exit status 3).
// MPINIT_MODE=env_only runs it without MPI. With LAUNCHER_PROBE_DIR set, the line goes to a file
// of its own there instead (srun splits output lines longer than 1 KiB between tasks).
#include <fcntl.h>
#include <mpi.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mpinit/mpinit.hpp"

using nlohmann::json;

namespace {

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

void emit(const std::string& line) {
  std::string out = line + "\n";
  int fd = 1;
  if (const char* dir = std::getenv("LAUNCHER_PROBE_DIR")) {
    std::string path = std::string(dir) + "/" + host_name() + "." + std::to_string(::getpid());
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) fd = 1;
  }
  for (size_t done = 0; done < out.size();) {
    ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (fd != 1) ::close(fd);
}

// Sum of all ranks, and a ring exchange of a 64 KiB buffer: both must come out right.
bool collectives_work(MPI_Comm comm) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  long mine = rank, sum = -1;
  if (MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, comm) != MPI_SUCCESS) return false;
  const int n = 8192;
  std::vector<double> out(n), in(n, -1.0);
  for (int i = 0; i < n; ++i) out[i] = rank * 1e6 + i;
  const int right = (rank + 1) % size, left = (rank + size - 1) % size;
  if (MPI_Sendrecv(out.data(), n, MPI_DOUBLE, right, 7, in.data(), n, MPI_DOUBLE, left, 7, comm, MPI_STATUS_IGNORE) !=
      MPI_SUCCESS)
    return false;
  for (int i = 0; i < n; ++i)
    if (in[i] != left * 1e6 + i) return false;
  return sum == static_cast<long>(size) * (size - 1) / 2;
}

json sourced(int value, const std::string& source) { return {{"value", value}, {"source", source}}; }


}  // namespace

int main(int argc, char** argv) {
  try {
    auto s = mpinit::launch(argc, argv);
    const mpinit::Identity& id = s.identity();
    json j = {{"host", id.host}, {"launcher", mpinit::to_string(id.launcher)}, {"from_mpi", id.from_mpi}};
    const mpinit::Sources& src = id.sources;
    const std::tuple<const char*, int, const std::string*> values[] = {
        {"rank", id.rank, &src.rank},
        {"size", id.size, &src.size},
        {"local_rank", id.local_rank, &src.local_rank},
        {"local_size", id.local_size, &src.local_size},
        {"node_rank", id.node_rank, &src.node_rank},
        {"node_count", id.node_count, &src.node_count}};
    for (const auto& [name, v, source] : values) {
      j[name] = v;
      j["sources"][name] = *source;
    }
    const mpinit::LaunchEnv& le = s.launch_env();
    json also = json::array();
    for (auto l : le.also_present) also.push_back(mpinit::to_string(l));
    j["env"] = {{"nodes", le.nodes}, {"also_present", also}};
    if (le.node_rank != mpinit::kUnknown) j["env"]["node_rank"] = sourced(le.node_rank, le.sources.node_rank);
    if (le.local_size != mpinit::kUnknown) j["env"]["local_size"] = sourced(le.local_size, le.sources.local_size);

    json vars = json::object();
    for (const char* v :
         {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_NODE_RANK", "SLURM_PROCID",
          "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NTASKS", "SLURM_STEP_ID", "SLURM_JOB_ID", "SLURM_STEP_GPUS",
          "CUDA_VISIBLE_DEVICES", "PMI_RANK", "MPI_LOCALRANKID", "MPINIT_TOPOLOGY"})
      if (const char* x = std::getenv(v)) vars[v] = x;
    j["vars"] = vars;

    if (const mpinit::RankPlan* p = s.plan()) {
      const mpinit::NodeTopology& t = *s.topology();
      json gpus = json::array();
      for (size_t i = 0; i < p->gpus.size(); ++i) {
        const auto& g = t.gpus[p->gpus[i]];
        gpus.push_back({{"name", g.name}, {"physical", g.physical}, {"ordinal", p->ordinals[i]}});
      }
      j["plan"] = {{"gpus", gpus},
                   {"nic", p->nic < 0 ? json(nullptr) : json(t.nics[p->nic].name)},
                   {"cpus", mpinit::format_cpus(p->cpus)},
                   {"numa", p->numa},
                   {"topology", t.origin},
                   {"gpu_count", t.gpus.size()},
                   {"core_count", t.cores.size()}};
    }
    if (id.from_mpi) j["collectives"] = collectives_work(s.comm()) ? "ok" : "wrong";
    emit("OK " + j.dump());
    return 0;
  } catch (const mpinit::Error& e) {
    emit(std::string("ERROR ") + e.what());
    return 3;
  }
}
