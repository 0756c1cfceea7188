// Placement under real mpirun: one topology discovery per node, every rank really bound as
// planned, the same plan on every rank of a node, and bad placement input failing every rank.
#include <gtest/gtest.h>
#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mpi_test_util.hpp"
#include "mpinit/mpinit.hpp"

#if MPINIT_HAVE_HWLOC
using namespace mpinit;

namespace {

using mpitest::same_everywhere;
int wrank() { return mpitest::world_rank(); }
int wsize() { return mpitest::world_size(); }

std::string topologies() {
  const char* d = std::getenv("TEST_TOPOLOGIES");
  return d ? d : "../shared/topologies/hwloc";
}
bool have_topologies() { return access((topologies() + "/mpibind-coral-lassen.xml").c_str(), R_OK) == 0; }
#define NEEDS_TOPOLOGIES() \
  if (!have_topologies()) GTEST_SKIP() << "no shared topologies at " << topologies()
std::string describe(const Placement& p) {
  std::string s;
  for (const auto& r : p.ranks) {
    s += std::to_string(r.local_rank) + ":" + format_cpus(r.cpus) + "/" + std::to_string(r.nic) + "/";
    for (int g : r.gpus) s += std::to_string(g) + ",";
    s += ";";
  }
  return s;
}
std::string launch_error(const Options& o) {
  try {
    auto s = launch(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PlacementMpi, OneDiscoveryPerNodeAndTheSamePlanEverywhere) {
  auto s = launch();
  ASSERT_NE(s.placement(), nullptr);
  ASSERT_NE(s.plan(), nullptr);
  int mine = s.discovered_topology() ? 1 : 0, per_node = 0;
  MPI_Allreduce(&mine, &per_node, 1, MPI_INT, MPI_SUM, s.local_comm());
  EXPECT_EQ(per_node, 1);
  EXPECT_EQ(s.discovered_topology(), s.identity().local_rank == 0);
  EXPECT_EQ(s.topology()->origin, s.discovered_topology() ? "discovered" : "imported from the local leader");
  EXPECT_EQ(static_cast<int>(s.placement()->ranks.size()), s.identity().local_size);
  // Each rank plans inside the CPUs it may use: its cgroup's, narrowed to a binding it started
  // with (Open MPI binds each rank to a core at -np 1 and 2). Ranks that started alike make the
  // same plan; otherwise each rank's own CPU set lies inside what it may use.
  std::vector<int> allowed;
  for (const auto& c : s.topology()->cores) allowed.insert(allowed.end(), c.pus.begin(), c.pus.end());
  std::sort(allowed.begin(), allowed.end());
  if (same_everywhere(format_cpus(allowed), s.local_comm())) {
    EXPECT_TRUE(same_everywhere(describe(*s.placement()), s.local_comm()));
  } else {
    for (int c : s.plan()->cpus) EXPECT_TRUE(std::binary_search(allowed.begin(), allowed.end(), c)) << c;
  }
}

TEST(PlacementMpi, EveryRankIsBoundAsPlanned) {
  auto s = launch();
  ASSERT_NE(s.plan(), nullptr);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  std::vector<int> bound;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) bound.push_back(c);
  EXPECT_EQ(format_cpus(bound), format_cpus(s.plan()->cpus)) << s.applied();
  EXPECT_NE(s.applied().find("bound to CPUs " + format_cpus(s.plan()->cpus)), std::string::npos) << s.applied();
}

TEST(PlacementMpi, ATopologyFileIsPlannedNotApplied) {
  NEEDS_TOPOLOGIES();
  Options o;
  o.topology_file = topologies() + "/mpibind-coral-lassen.xml";
  auto s = launch(o);
  ASSERT_NE(s.plan(), nullptr);
  EXPECT_EQ(s.topology()->gpus.size(), 4u);
  // The same plan as offline planning of this file for the node's ranks.
  PlanRequest req;
  req.local_size = s.identity().local_size;
  auto offline = plan_placement(load_topology(*o.topology_file), req);
  EXPECT_EQ(describe(*s.placement()), describe(offline));
  EXPECT_EQ(s.plan()->gpus.size(), 1u);
  EXPECT_NE(s.applied().find("not applied"), std::string::npos) << s.applied();
}

TEST(PlacementMpi, AnUnreadableTopologyFailsEveryRankAlike) {
  Options o;
  o.topology_file = "/nonexistent/node.xml";
  std::string msg = launch_error(o);
  EXPECT_TRUE(same_everywhere(msg, MPI_COMM_WORLD)) << msg;
  EXPECT_NE(msg.find("phase 'topology' failed on 1 of"), std::string::npos) << msg;  // the one node leader
  EXPECT_NE(msg.find("option: cannot read the topology file '/nonexistent/node.xml'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 0"), std::string::npos) << msg;
}

TEST(PlacementMpi, ABadVisibleListOnOneRankFailsEveryRank) {
  NEEDS_TOPOLOGIES();
  const int bad = wsize() - 1;
  Options o;
  o.topology_file = topologies() + "/mpibind-coral-lassen.xml";
  o.env = EnvMap{};
  if (wrank() == bad) (*o.env)["CUDA_VISIBLE_DEVICES"] = "0,9";
  std::string msg = launch_error(o);
  EXPECT_TRUE(same_everywhere(msg, MPI_COMM_WORLD)) << msg;
  EXPECT_NE(msg.find("phase 'placement' failed on 1 of " + std::to_string(wsize())), std::string::npos) << msg;
  EXPECT_NE(msg.find("CUDA_VISIBLE_DEVICES='0,9': entry '9' names a GPU that does not exist"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank " + std::to_string(bad)), std::string::npos) << msg;
}

TEST(PlacementMpi, PerRankVisibleListsAreEachRanksOwn) {
  NEEDS_TOPOLOGIES();
  // As srun --gpus-per-task=1 narrows it: rank r sees only GPU (3 - r % 4).
  Options o;
  o.topology_file = topologies() + "/mpibind-coral-lassen.xml";
  const int lr = wrank();  // one node: the world rank is the local rank
  o.env = EnvMap{{"CUDA_VISIBLE_DEVICES", std::to_string(3 - lr % 4)}};
  auto s = launch(o);
  ASSERT_NE(s.plan(), nullptr);
  ASSERT_EQ(s.plan()->gpus.size(), 1u);
  EXPECT_EQ(s.topology()->gpus[s.plan()->gpus[0]].name, "cuda" + std::to_string(3 - lr % 4));
  EXPECT_EQ(s.plan()->ordinals, std::vector<int>{0});
}

TEST(PlacementMpi, ExclusivePolicyWithTooFewGpusFailsEveryRank) {
  NEEDS_TOPOLOGIES();
  Options o;
  o.topology_file = topologies() + "/mpibind-cts1-pascal.xml";  // 2 GPUs
  o.gpu_policy = GpuPolicy::exclusive;
  std::string msg = launch_error(o);
  if (wsize() <= 2) {
    EXPECT_EQ(msg, "");
    return;
  }
  EXPECT_TRUE(same_everywhere(msg, MPI_COMM_WORLD)) << msg;
  EXPECT_NE(msg.find("'exclusive' gives each rank its own GPU, but " + std::to_string(wsize()) +
                     " local ranks see only 2 GPU(s)"),
            std::string::npos)
      << msg;
}

// Restores the variables it names when it goes out of scope (the tests that follow, and NCCL in
// this process, see the environment the test started with).
struct SavedEnv {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  explicit SavedEnv(std::initializer_list<const char*> vars) {
    for (const char* v : vars) {
      const char* x = std::getenv(v);
      saved.emplace_back(v, x ? std::optional<std::string>(x) : std::nullopt);
    }
  }
  ~SavedEnv() {
    for (const auto& [v, x] : saved) x ? setenv(v.c_str(), x->c_str(), 1) : unsetenv(v.c_str());
  }
};

// MPI's transports are told the planned NIC by default, NCCL only when asked
// (MPINIT_EXPORT_NET=all: NCCL picks each GPU's NIC itself), and a variable the user set is never
// replaced.
TEST(PlacementMpi, NetworkExportsForMpiByDefaultForNcclOnRequestNeverOverTheUser) {
  const std::initializer_list<const char*> vars = {"NCCL_IB_HCA", "NCCL_SOCKET_IFNAME", "UCX_NET_DEVICES",
                                                   "OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_btl_openib_if_include"};
  SavedEnv keep(vars);
  auto clear = [&] {
    for (const char* v : vars) unsetenv(v);
  };
  auto exported = [&](NetExport which, const Nic& nic) {
    std::map<std::string, std::string> m;
    for (const auto& [var, value] : net_exports(nic, which)) m[var] = value;
    return m;
  };
  clear();
  Options off;
  off.export_net = NetExport::off;
  { auto s = launch(off); }
  for (const char* v : vars) EXPECT_EQ(std::getenv(v), nullptr) << v;

  auto s = launch();  // the default: mpi
  ASSERT_NE(s.plan(), nullptr);
  if (s.plan()->nic < 0) GTEST_SKIP() << "this machine has no NIC on a PCI device";
  const Nic& nic = s.topology()->nics[s.plan()->nic];
  const auto mpi = exported(NetExport::mpi, nic);
  EXPECT_TRUE(mpi.count("UCX_NET_DEVICES"));
  for (const auto& [var, value] : mpi) {
    const char* got = std::getenv(var.c_str());
    ASSERT_NE(got, nullptr) << var;
    EXPECT_EQ(std::string(got), value);
    // applied() reports the exports beside the binding (the binding used to overwrite them).
    EXPECT_NE(s.applied().find(var + "=" + value), std::string::npos) << s.applied();
  }
  if (s.settings().bind.value && !s.plan()->cpus.empty()) {
    EXPECT_NE(s.applied().find("bound to CPUs " + format_cpus(s.plan()->cpus)), std::string::npos) << s.applied();
  }
  EXPECT_EQ(std::getenv("NCCL_IB_HCA"), nullptr);
  EXPECT_EQ(std::getenv("NCCL_SOCKET_IFNAME"), nullptr);

  clear();
  Options all;
  all.export_net = NetExport::all;
  auto t = launch(all);
  const auto every = exported(NetExport::all, nic);
  EXPECT_GT(every.size(), mpi.size());
  for (const auto& [var, value] : every) {
    const char* got = std::getenv(var.c_str());
    ASSERT_NE(got, nullptr) << var;
    EXPECT_EQ(std::string(got), value);
  }

  // A variable the user set is left alone.
  clear();
  all.env = EnvMap{{"UCX_NET_DEVICES", "mine"}};
  setenv("UCX_NET_DEVICES", "mine", 1);
  auto u = launch(all);
  EXPECT_STREQ(std::getenv("UCX_NET_DEVICES"), "mine");
}

TEST(PlacementMpi, PlacementOff) {
  Options o;
  o.placement = false;
  auto s = launch(o);
  EXPECT_EQ(s.plan(), nullptr);
  EXPECT_EQ(s.topology(), nullptr);
}
// Env-only mode under Flux on several nodes: FLUX_TASK_LOCAL_ID but no local size, and no MPI to
// give one. Planning a guessed local size indexed past the plan (a crash); it is an error instead.
TEST(PlacementMpi, EnvOnlyWithALocalRankButNoLocalSizeIsAnError) {
  NEEDS_TOPOLOGIES();
  Options o;
  o.mode = InitMode::env_only;
  o.topology_file = topologies() + "/mpibind-coral-lassen.xml";
  o.env = EnvMap{{"FLUX_TASK_RANK", "5"}, {"FLUX_TASK_LOCAL_ID", "1"}, {"FLUX_JOB_SIZE", "8"},
                 {"FLUX_JOB_NNODES", "2"}, {"FLUX_JOB_ID", "fD2e73NP"}};
  std::string msg = launch_error(o);
  EXPECT_NE(msg.find("phase 'placement' failed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the launcher (flux) gives the local rank (FLUX_TASK_LOCAL_ID=1) but no local size"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("MPINIT_PLACEMENT=off"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank 5"), std::string::npos) << msg;
  // The way out it names works: the identity is the environment's, with the local size unknown.
  (*o.env)["MPINIT_PLACEMENT"] = "off";
  auto off = launch(o);
  EXPECT_EQ(off.identity().rank, 5);
  EXPECT_EQ(off.identity().local_rank, 1);
  EXPECT_EQ(off.identity().local_size, kUnknown);
  EXPECT_EQ(off.plan(), nullptr);
  // A one-node Flux job has its local size (the job's), so its last task is planned.
  o.env = EnvMap{{"FLUX_TASK_RANK", "2"}, {"FLUX_TASK_LOCAL_ID", "2"}, {"FLUX_JOB_SIZE", "3"},
                 {"FLUX_JOB_NNODES", "1"}};
  auto one = launch(o);
  EXPECT_EQ(one.identity().local_size, 3);
  ASSERT_NE(one.placement(), nullptr);
  EXPECT_EQ(one.placement()->ranks.size(), 3u);
  ASSERT_NE(one.plan(), nullptr);
}

#endif
