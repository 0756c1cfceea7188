// mpinit check: is this job healthy? Identity consistency, an MPI allreduce, and an NCCL
// allreduce where NCCL is built in and a GPU is present.
#include <fmt/format.h>
#include <mpi.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"
#if MPINIT_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace tool {
namespace {

struct Check {
  std::string name;
  std::string status;  // ok, failed, skipped
  std::string detail;
};

// This rank's failure text for a check ("" when fine), agreed: every rank gets the lowest failing
// rank's text, or "" when all passed.
std::string agreed_failure(MPI_Comm comm, const std::string& mine) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int first = mine.empty() ? size : rank;
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return "";
  std::string text = mine.empty() ? "" : "rank " + std::to_string(rank) + ": " + mine;
  int len = static_cast<int>(text.size());
  MPI_Bcast(&len, 1, MPI_INT, first, comm);
  text.resize(len);
  MPI_Bcast(text.data(), len, MPI_CHAR, first, comm);
  return text;
}

Check identity_check(const mpinit::Session& s, const CheckArgs& a) {
  const mpinit::Identity& id = s.identity();
  MPI_Comm comm = s.comm(), local = s.local_comm();
  std::string bad;
  // Every rank of a node has the node's host name, node rank and node count.
  std::string leader_host = id.host;
  int len = static_cast<int>(leader_host.size()), node[2] = {id.node_rank, id.node_count};
  MPI_Bcast(&len, 1, MPI_INT, 0, local);
  leader_host.resize(len);
  MPI_Bcast(leader_host.data(), len, MPI_CHAR, 0, local);
  MPI_Bcast(node, 2, MPI_INT, 0, local);
  if (leader_host != id.host) bad = "host " + id.host + " shares a node with " + leader_host;
  if (node[0] != id.node_rank) bad = "node rank differs from its node's leader";
  // Local sizes over the node leaders add up to the world; node ranks are 0..count-1, once each.
  int mine[3] = {id.local_rank == 0 ? id.local_size : 0, id.local_rank == 0 ? 1 : 0,
                 id.local_rank == 0 ? id.node_rank : 0};
  int sum[3] = {};
  MPI_Allreduce(mine, sum, 3, MPI_INT, MPI_SUM, comm);
  const int n = id.node_count;
  if (sum[0] != id.size)
    bad = "local sizes add up to " + std::to_string(sum[0]) + ", not the world size " + std::to_string(id.size);
  if (sum[1] != n) bad = std::to_string(sum[1]) + " node leaders for a node count of " + std::to_string(n);
  if (sum[2] != n * (n - 1) / 2) bad = "node ranks are not 0.." + std::to_string(n - 1) + " once each";
  if (a.expect_size && id.size != a.expect_size)
    bad = "world size " + std::to_string(id.size) + ", expected " + std::to_string(a.expect_size);
  if (a.expect_nodes && n != a.expect_nodes)
    bad = std::to_string(n) + " node(s), expected " + std::to_string(a.expect_nodes);
  std::string fail = agreed_failure(comm, bad);
  if (!fail.empty()) return {"identity", "failed", fail};
  return {"identity", "ok",
          fmt::format("{} ranks on {} node(s); hosts, node ranks and local sizes consistent", id.size, n)};
}

Check mpi_check(const mpinit::Session& s) {
  const int rank = s.identity().rank, size = s.identity().size;
  long long r = rank, sum = 0;
  std::string bad;
  if (MPI_Allreduce(&r, &sum, 1, MPI_LONG_LONG, MPI_SUM, s.comm()) != MPI_SUCCESS) bad = "MPI_Allreduce failed";
  else if (sum != 1LL * size * (size - 1) / 2) bad = "sum of ranks " + std::to_string(sum);
  const int n = 1 << 17;  // 1 MiB of doubles
  std::vector<double> v(n, rank + 1.0), w(n);
  if (bad.empty() && MPI_Allreduce(v.data(), w.data(), n, MPI_DOUBLE, MPI_SUM, s.comm()) != MPI_SUCCESS)
    bad = "MPI_Allreduce of 1 MiB failed";
  const double expect = size * (size + 1) / 2.0;
  for (int i = 0; bad.empty() && i < n; ++i)
    if (w[i] != expect) bad = "1 MiB allreduce: element " + std::to_string(i) + " is " + std::to_string(w[i]);
  std::string fail = agreed_failure(s.comm(), bad);
  if (!fail.empty()) return {"mpi_allreduce", "failed", fail};
  return {"mpi_allreduce", "ok", fmt::format("sum of ranks {} and 1 MiB of doubles correct", sum)};
}

Check nccl_check(mpinit::Session& s) {
#if MPINIT_HAVE_NCCL
  int devices = 0;
  int have = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0 ? 1 : 0, all = 0;
  MPI_Allreduce(&have, &all, 1, MPI_INT, MPI_MIN, s.comm());
  if (!all) return {"nccl_allreduce", "skipped", "no CUDA device on some rank"};
  std::string bad;
  try {
    mpinit::NcclComm& c = s.nccl();
    const int n = 1 << 18, size = c.size();
    std::vector<float> host(n, c.rank() + 1.0f);
    float* buf = nullptr;
    cudaStream_t stream = nullptr;
    if (cudaMalloc(&buf, n * sizeof(float)) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess) {
      bad = "cudaMalloc/cudaStreamCreate failed";
    } else {
      cudaMemcpy(buf, host.data(), n * sizeof(float), cudaMemcpyHostToDevice);
      ncclResult_t rc = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, c.get(), stream);
      if (rc != ncclSuccess && rc != ncclInProgress) bad = std::string("ncclAllReduce: ") + ncclGetErrorString(rc);
      if (bad.empty() && cudaStreamSynchronize(stream) != cudaSuccess) bad = "cudaStreamSynchronize failed";
      if (bad.empty()) c.check();
      cudaMemcpy(host.data(), buf, n * sizeof(float), cudaMemcpyDeviceToHost);
      for (int i = 0; bad.empty() && i < n; ++i)
        if (host[i] != size * (size + 1) / 2.0f) bad = "element " + std::to_string(i) + " is wrong";
    }
    if (buf) cudaFree(buf);
    if (stream) cudaStreamDestroy(stream);
  } catch (const mpinit::Error& e) {
    return {"nccl_allreduce", "failed", e.what()};  // already the same on every rank
  }
  std::string fail = agreed_failure(s.comm(), bad);
  if (!fail.empty()) return {"nccl_allreduce", "failed", fail};
  return {"nccl_allreduce", "ok", "1 MiB of floats over NCCL correct"};
#else
  (void)s;
  return {"nccl_allreduce", "skipped", "mpinit was built without NCCL"};
#endif
}

}  // namespace

int cmd_check(const CheckArgs& a, const mpinit::Flags& flags) {
  std::vector<Check> checks;
  bool root = true;
  try {
    mpinit::Options opts;
    opts.flags = flags;
    auto s = mpinit::launch(opts);
    root = s.identity().rank == 0;
    checks.push_back(identity_check(s, a));
    checks.push_back(mpi_check(s));
    checks.push_back(nccl_check(s));
  } catch (const mpinit::Error& e) {
    checks.push_back({"launch", "failed", e.what()});
  }
  bool healthy = true;
  for (const auto& c : checks) healthy = healthy && c.status != "failed";
  if (root) {
    if (a.json) {
      nlohmann::json j = {{"healthy", healthy}, {"checks", nlohmann::json::array()}};
      for (const auto& c : checks) j["checks"].push_back({{"name", c.name}, {"status", c.status}, {"detail", c.detail}});
      std::cout << j.dump(2) << std::endl;
    } else {
      for (const auto& c : checks) fmt::print("{:<16} {:<8} {}\n", c.name, c.status, c.detail);
      fmt::print("{}\n", healthy ? "healthy" : "NOT healthy");
    }
  }
  return healthy ? 0 : 1;
}

}  // namespace tool
