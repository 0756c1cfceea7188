// Slurm host-list and tasks-per-node decoding.
#include <gtest/gtest.h>

#include "mpinit/env.hpp"

using namespace mpinit;
using V = std::vector<std::string>;

TEST(Hostlist, Plain) {
  EXPECT_EQ(expand_hostlist("n1"), V{"n1"});
  EXPECT_EQ(expand_hostlist("a,b,c"), (V{"a", "b", "c"}));
}

TEST(Hostlist, RangesZeroPaddedAndCommasInBrackets) {
  EXPECT_EQ(expand_hostlist("node[001,007-009]"), (V{"node001", "node007", "node008", "node009"}));
  EXPECT_EQ(expand_hostlist("n[08-10]"), (V{"n08", "n09", "n10"}));
  EXPECT_EQ(expand_hostlist("n[01-3]"), (V{"n01", "n02", "n03"}));
  EXPECT_EQ(expand_hostlist("n[9-11]"), (V{"n9", "n10", "n11"}));
  EXPECT_EQ(expand_hostlist("n[098-101]"), (V{"n098", "n099", "n100", "n101"}));
}

TEST(Hostlist, SeveralGroupsFirstIsOutermost) {
  // The order scontrol show hostnames gives.
  EXPECT_EQ(expand_hostlist("rack[1-2]-n[01-02]"), (V{"rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"}));
}

TEST(Hostlist, SuffixAfterBracketsAndMixedItems) {
  EXPECT_EQ(expand_hostlist("a,b[1-2]c"), (V{"a", "b1c", "b2c"}));
  EXPECT_EQ(expand_hostlist("gpu[1-2].ib,login1"), (V{"gpu1.ib", "gpu2.ib", "login1"}));
  EXPECT_EQ(expand_hostlist("x[1,3],y[2]"), (V{"x1", "x3", "y2"}));
}

TEST(Hostlist, Malformed) {
  for (const char* bad : {"", "n[1-2", "n]1", "n[]", "n[3-1]", "n[a-b]", "n[1-2]]", "a,,b", "a,", ",a", "n[1-[2]]",
                          "n[1--2]", "a b", "n[-1]", "n[1-99999999]"}) {
    EXPECT_THROW(expand_hostlist(bad, "SLURM_JOB_NODELIST"), Error) << "'" << bad << "'";
  }
  try {
    expand_hostlist("n[3-1]", "SLURM_STEP_NODELIST");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("SLURM_STEP_NODELIST='n[3-1]'"), std::string::npos) << m;
    EXPECT_NE(m.find("backwards"), std::string::npos) << m;
  }
}

TEST(TasksPerNode, Decoding) {
  EXPECT_EQ(decode_tasks_per_node("4"), (std::vector<int>{4}));
  EXPECT_EQ(decode_tasks_per_node("2(x3),1"), (std::vector<int>{2, 2, 2, 1}));
  EXPECT_EQ(decode_tasks_per_node("1,3(x2),2"), (std::vector<int>{1, 3, 3, 2}));
  EXPECT_EQ(decode_tasks_per_node("16(x1)"), (std::vector<int>{16}));
}

TEST(TasksPerNode, Malformed) {
  for (const char* bad : {"", "0", "2(x0)", "2(x)", "2(y3)", "2(x3", "x", "2,", ",2", "-1", "2(x3)4", "2(x99999999)"}) {
    EXPECT_THROW(decode_tasks_per_node(bad, "SLURM_TASKS_PER_NODE"), Error) << "'" << bad << "'";
  }
  try {
    decode_tasks_per_node("2(y3)", "SLURM_TASKS_PER_NODE");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SLURM_TASKS_PER_NODE='2(y3)'"), std::string::npos);
  }
}
