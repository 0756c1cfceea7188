// What `mpinit exec` gives a torchrun-style program: torchrun's variables, validated rendezvous
// values, and a visible-GPU order in which set_device(LOCAL_RANK) is the planned GPU (on real
// machines' topologies).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <string>

#include "mpinit/error.hpp"
#include "mpinit/rendezvous.hpp"
#include "mpinit/topology.hpp"

using namespace mpinit;

namespace {
std::string topo_file(const std::string& name) {
  const char* d = std::getenv("TEST_TOPOLOGIES");
  return std::string(d ? d : "../shared/topologies/hwloc") + "/" + name + ".xml";
}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == ',') out.push_back(s.substr(start, i - start)), start = i + 1;
  return out;
}
}  // namespace

TEST(Rendezvous, TorchrunVariables) {
  Identity id;
  id.rank = 5;
  id.size = 8;
  id.local_rank = 1;
  id.local_size = 2;
  id.node_rank = 2;
  id.node_count = 4;
  Rendezvous rv{{"10.0.0.1", "x"}, {29500, "x"}};
  EnvMap e = torchrun_env(id, rv);
  EXPECT_EQ(e.at("RANK"), "5");
  EXPECT_EQ(e.at("WORLD_SIZE"), "8");
  EXPECT_EQ(e.at("LOCAL_RANK"), "1");
  EXPECT_EQ(e.at("LOCAL_WORLD_SIZE"), "2");
  EXPECT_EQ(e.at("NODE_RANK"), "2");
  EXPECT_EQ(e.at("GROUP_RANK"), "2");
  EXPECT_EQ(e.at("GROUP_WORLD_SIZE"), "4");
  EXPECT_EQ(e.at("MASTER_ADDR"), "10.0.0.1");
  EXPECT_EQ(e.at("MASTER_PORT"), "29500");
  // And what mpinit's own environment parser makes of them (a torchrun child of mpinit exec).
  e["TORCHELASTIC_RUN_ID"] = "x";
  LaunchEnv le = parse_launch_env(e);
  EXPECT_EQ(le.launcher, Launcher::torchrun);
  EXPECT_EQ(le.rank, 5);
  EXPECT_EQ(le.node_rank, 2);
}

TEST(Rendezvous, AddressesAndPortsAreValidated) {
  for (const char* ok : {"127.0.0.1", "10.1.2.3", "::1", "fe80::1", "node-01", "n1.cluster.example.org"})
    EXPECT_NO_THROW(validate_master_addr("MASTER_ADDR", ok)) << ok;
  for (const char* bad : {"", "a b", "host;rm -rf /", "-opt", "$(id)", "node\n1", "x/y"}) {
    try {
      validate_master_addr("--master-addr", bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--master-addr='" + std::string(bad) + "' is not an address"),
                std::string::npos);
    }
  }
  EXPECT_THROW(validate_master_addr("A", std::string(254, 'a')), Error);
  EXPECT_EQ(parse_port("P", "1"), 1);
  EXPECT_EQ(parse_port("P", "65535"), 65535);
  for (const char* bad : {"0", "65536", "-1", "80x", "", "999999999999"}) {
    try {
      parse_port("MASTER_PORT", bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("MASTER_PORT='" + std::string(bad) + "' is not a TCP port"),
                std::string::npos);
    }
  }
}

TEST(VisibleForLocalRank, TiogaEveryRankFindsItsGcdAtLocalRank) {
  NodeTopology t = load_topology(topo_file("mpibind-eas-tioga"));
  PlanRequest req;
  req.local_size = 8;
  Placement p = plan_placement(t, req);
  for (const auto& rp : p.ranks) {
    EnvMap e = visible_for_local_rank(t, rp, {});
    ASSERT_EQ(e.count("ROCR_VISIBLE_DEVICES"), 1u);
    auto tokens = split(e.at("ROCR_VISIBLE_DEVICES"));
    ASSERT_EQ(tokens.size(), 8u);
    EXPECT_EQ(tokens[rp.local_rank], std::to_string(t.gpus[rp.gpus[0]].physical));
    std::set<std::string> all(tokens.begin(), tokens.end());
    EXPECT_EQ(all.size(), 8u);  // a permutation: every GCD stays visible (peer access)
  }
  // Rank 0's plan is rsmi4: device 0 of its list must be GCD 4.
  EXPECT_EQ(split(visible_for_local_rank(t, p.ranks[0], {}).at("ROCR_VISIBLE_DEVICES"))[0], "4");
}

TEST(VisibleForLocalRank, AnExistingListIsReorderedNotReplaced) {
  NodeTopology t = load_topology(topo_file("mpibind-g4dnmetal"));
  ASSERT_GE(t.gpus.size(), 4u);
  // CUDA_VISIBLE_DEVICES=3,2,1,0 (physical indices), as a user or Slurm may order it.
  std::vector<int> visible;
  for (int phys : {3, 2, 1, 0})
    for (size_t g = 0; g < t.gpus.size(); ++g)
      if (t.gpus[g].physical == phys) visible.push_back(static_cast<int>(g));
  PlanRequest req;
  req.local_size = 4;
  req.visible = {visible};
  Placement p = plan_placement(t, req);
  for (const auto& rp : p.ranks) {
    EnvMap e = visible_for_local_rank(t, rp, {{"CUDA_VISIBLE_DEVICES", "3,2,1,0"}});
    auto tokens = split(e.at("CUDA_VISIBLE_DEVICES"));
    EXPECT_EQ(tokens[rp.local_rank], std::to_string(t.gpus[rp.gpus[0]].physical)) << e.at("CUDA_VISIBLE_DEVICES");
    std::vector<std::string> sorted = tokens;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, (std::vector<std::string>{"0", "1", "2", "3"}));
  }
}

TEST(VisibleForLocalRank, PastTheListItSaysWhyAndChangesNothing) {
  NodeTopology t = load_topology(topo_file("mpibind-g4dnmetal"));
  PlanRequest req;
  req.local_size = static_cast<int>(t.gpus.size()) + 2;  // ranks share GPUs
  Placement p = plan_placement(t, req);
  const RankPlan& last = p.ranks.back();
  std::string note;
  EXPECT_TRUE(visible_for_local_rank(t, last, {}, &note).empty());
  EXPECT_NE(note.find("set_device(LOCAL_RANK) cannot work"), std::string::npos) << note;
  // No GPU, no variable.
  RankPlan none;
  EXPECT_TRUE(visible_for_local_rank(t, none, {}).empty());
}
