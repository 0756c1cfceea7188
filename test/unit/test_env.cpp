// The launcher environment layer on env maps: every launcher, the priority rules, bad input.
#include <gtest/gtest.h>

#include "core/parse.hpp"
#include "mpinit/env.hpp"

using namespace mpinit;
using mpinit::detail::parse_int;

namespace {

// Expects parse_launch_env to throw an Error whose message contains every one of `parts`.
void expect_env_error(const EnvMap& env, std::initializer_list<const char*> parts) {
  try {
    parse_launch_env(env);
    ADD_FAILURE() << "no error for this environment";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_environment);
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

// Open MPI 4.1 (ORTE's orted): the per-rank variables (OMPI_MCA_orte_num_nodes is added where a test needs it).
EnvMap ompi(int rank, int size, int lrank, int lsize) {
  return {{"OMPI_COMM_WORLD_RANK", std::to_string(rank)},      {"OMPI_COMM_WORLD_SIZE", std::to_string(size)},
          {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(lrank)}, {"OMPI_COMM_WORLD_LOCAL_SIZE", std::to_string(lsize)},
          {"OMPI_COMM_WORLD_NODE_RANK", std::to_string(lrank)},  {"PMIX_RANK", std::to_string(rank)}};
}

// What srun sets in a task of a step (see ../shared/LAUNCHERS.md, measured on Slurm 22.05).
EnvMap slurm_step(int procid, int localid, int nodeid) {
  return {{"SLURM_JOB_ID", "7"},           {"SLURM_STEP_ID", "0"},         {"SLURM_PROCID", std::to_string(procid)},
          {"SLURM_LOCALID", std::to_string(localid)}, {"SLURM_NODEID", std::to_string(nodeid)},
          {"SLURM_NTASKS", "7"},           {"SLURM_NPROCS", "7"},          {"SLURM_STEP_NUM_TASKS", "7"},
          {"SLURM_NNODES", "4"},           {"SLURM_STEP_NUM_NODES", "4"},  {"SLURM_JOB_NODELIST", "node[001,007-009]"},
          {"SLURM_STEP_NODELIST", "node[001,007-009]"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1"},
          {"SLURM_TASKS_PER_NODE", "2(x3),1"}};
}

// What an sbatch script carries (the batch step): no SLURM_STEP_ID.
EnvMap slurm_batch() {
  return {{"SLURM_JOB_ID", "7"},    {"SLURM_PROCID", "0"},           {"SLURM_LOCALID", "0"},
          {"SLURM_NODEID", "0"},    {"SLURM_NTASKS", "3"},           {"SLURM_NPROCS", "3"},
          {"SLURM_NNODES", "2"},    {"SLURM_JOB_NODELIST", "n[1-2]"}, {"SLURM_TASKS_PER_NODE", "2,1"}};
}

// What Open MPI 5's mpirun (PRRTE 3.0 with OpenPMIx 4.2) sets in a rank of a one-application job:
// OpenPMIx's pmdl/ompi component (src/mca/pmdl/ompi/pmdl_ompi.c) writes the OMPI_* ones, the PMIx
// server (PMIx_server_setup_fork) the PMIX_* ones, PRRTE's schizo base PRTE_LAUNCHED. There is no
// node count: OMPI_MCA_orte_num_nodes went with ORTE, and OMPI_MCA_num_procs is the world size.
EnvMap ompi5(int rank, int size, int lrank, int lsize) {
  const std::string r = std::to_string(rank), n = std::to_string(size), ls = std::to_string(lsize);
  return {{"OMPI_COMM_WORLD_RANK", r},
          {"OMPI_COMM_WORLD_SIZE", n},
          {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(lrank)},
          {"OMPI_COMM_WORLD_LOCAL_SIZE", ls},
          {"OMPI_COMM_WORLD_NODE_RANK", std::to_string(lrank)},
          {"OMPI_WORLD_SIZE", n},
          {"OMPI_WORLD_LOCAL_SIZE", ls},
          {"OMPI_UNIVERSE_SIZE", n},
          {"OMPI_MCA_num_procs", n},
          {"OMPI_NUM_APP_CTX", "1"},
          {"OMPI_FILE_LOCATION", "/tmp/prte.n1.0/dvm.4242/1/" + r},
          {"OMPI_MCA_initial_wdir", "/home/u"},
          {"OMPI_COMMAND", "./app"},
          {"OMPI_ARGV", ""},
          {"OMPI_MCA_cpu_type", "x86_64"},
          {"PMIX_NAMESPACE", "prterun-n1-4242@1"},
          {"PMIX_RANK", r},
          {"PMIX_SERVER_URI41", "prterun-n1-4242@0.0;tcp4://127.0.0.1:40123"},
          {"PMIX_SERVER_URI4", "prterun-n1-4242@0.0;tcp4://127.0.0.1:40123"},
          {"PMIX_SECURITY_MODE", "native"},
          {"PMIX_GDS_MODULE", "hash"},
          {"PMIX_BFROP_BUFFER_TYPE", "PMIX_BFROP_BUFFER_NON_DESC"},
          {"PMIX_HOSTNAME", "n1"},
          {"PMIX_VERSION", "4.2.9"},
          {"PMIX_SERVER_TMPDIR", "/tmp/prte.n1.0/dvm.4242"},
          {"PMIX_SYSTEM_TMPDIR", "/tmp"},
          {"PRTE_LAUNCHED", "1"}};
}

// What Flux's job shell sets in a task (flux-core src/shell/task.c and shell.c, flux-environment(7)),
// with its simple-PMI plugin off (`-o pmi=...` without "simple"): no local size, no node index.
EnvMap flux_task(int rank, int local_id, int size, int nnodes) {
  return {{"FLUX_TASK_RANK", std::to_string(rank)},
          {"FLUX_TASK_LOCAL_ID", std::to_string(local_id)},
          {"FLUX_JOB_SIZE", std::to_string(size)},
          {"FLUX_JOB_NNODES", std::to_string(nnodes)},
          {"FLUX_JOB_ID", "\xc6\x92" "D2e73NP"},  // F58: U+0192 then base58 digits
          {"FLUX_JOB_ID_PATH", "/\xc6\x92" "D2e73NP"},
          {"FLUX_JOB_TMPDIR", "/tmp/flux-Zx1/jobtmp-0-\xc6\x92" "D2e73NP"},
          {"FLUX_URI", "local:///tmp/flux-Zx1/local-0"},
          {"FLUX_KVS_NAMESPACE", "job-1241513984"}};
}

// What the shell's default simple-PMI plugin adds (src/shell/pmi/pmi.c).
EnvMap flux_pmi(int rank, int size) {
  return {{"PMI_FD", "7"}, {"PMI_RANK", std::to_string(rank)}, {"PMI_SIZE", std::to_string(size)},
          {"FLUX_PMI_LIBRARY_PATH", "/usr/lib/flux/libpmi.so"}};
}

EnvMap merge(EnvMap a, const EnvMap& b) {
  for (const auto& kv : b) a[kv.first] = kv.second;
  return a;
}

}  // namespace

TEST(LaunchEnv, NoLauncher) {
  auto e = parse_launch_env({{"HOME", "/root"}});
  EXPECT_EQ(e.launcher, Launcher::none);
  EXPECT_EQ(e.rank, kUnknown);
  EXPECT_EQ(e.size, kUnknown);
  EXPECT_TRUE(e.also_present.empty());
}

TEST(LaunchEnv, OpenMpi) {
  auto env = ompi(5, 8, 1, 2);
  env["OMPI_MCA_orte_num_nodes"] = "4";
  auto e = parse_launch_env(env);
  EXPECT_EQ(e.launcher, Launcher::openmpi);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.sources.rank, "OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(e.size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_size, 2);
  EXPECT_EQ(e.node_count, 4);
  EXPECT_EQ(e.sources.node_count, "OMPI_MCA_orte_num_nodes");
  // OMPI_COMM_WORLD_NODE_RANK is a rank on the node, never the node index.
  EXPECT_EQ(e.node_rank, kUnknown);
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes[0].find("OMPI_COMM_WORLD_NODE_RANK"), std::string::npos);
  // PMIX_RANK is there too, but Open MPI's variables describe the process.
  ASSERT_EQ(e.also_present.size(), 1u);
  EXPECT_EQ(e.also_present[0], Launcher::pmix);
}

TEST(LaunchEnv, OpenMpi5Prrte) {
  auto e = parse_launch_env(ompi5(5, 8, 1, 4));
  EXPECT_EQ(e.launcher, Launcher::openmpi);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.sources.rank, "OMPI_COMM_WORLD_RANK");
  EXPECT_EQ(e.size, 8);
  EXPECT_EQ(e.sources.size, "OMPI_COMM_WORLD_SIZE");
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_size, 4);
  EXPECT_EQ(e.sources.local_size, "OMPI_COMM_WORLD_LOCAL_SIZE");
  // No node count in Open MPI 5; OMPI_MCA_num_procs and OMPI_UNIVERSE_SIZE (8) are not one.
  EXPECT_EQ(e.node_count, kUnknown);
  EXPECT_EQ(e.sources.node_count, "unknown");
  EXPECT_EQ(e.node_rank, kUnknown);
  ASSERT_EQ(e.notes.size(), 1u);
  EXPECT_NE(e.notes[0].find("OMPI_COMM_WORLD_NODE_RANK"), std::string::npos);
  ASSERT_EQ(e.also_present.size(), 1u);
  EXPECT_EQ(e.also_present[0], Launcher::pmix);
  // Two nodes of 4: nothing in the environment says so, and identity_from_env does not guess.
  auto id = identity_from_env(e, "n1");
  EXPECT_EQ(id.node_count, kUnknown);
  EXPECT_EQ(id.local_size, 4);
  // Open MPI 5's variables are checked as strictly as Open MPI 4's.
  expect_env_error(merge(ompi5(5, 8, 1, 4), {{"OMPI_COMM_WORLD_LOCAL_SIZE", "9"}}),
                   {"OMPI_COMM_WORLD_LOCAL_SIZE=9", "larger than", "OMPI_COMM_WORLD_SIZE=8"});
}

TEST(LaunchEnv, FluxTask) {
  // Task 5 of 8 on the second of 2 nodes (block mapping: 4 a node).
  auto e = parse_launch_env(flux_task(5, 1, 8, 2));
  EXPECT_EQ(e.launcher, Launcher::flux);
  EXPECT_STREQ(to_string(e.launcher), "flux");
  EXPECT_EQ(parse_enum<Launcher>("flux"), Launcher::flux);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.sources.rank, "FLUX_TASK_RANK");
  EXPECT_EQ(e.size, 8);
  EXPECT_EQ(e.sources.size, "FLUX_JOB_SIZE");
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.sources.local_rank, "FLUX_TASK_LOCAL_ID");
  EXPECT_EQ(e.node_count, 2);
  EXPECT_EQ(e.sources.node_count, "FLUX_JOB_NNODES");
  // Flux gives neither a local size nor a node index.
  EXPECT_EQ(e.local_size, kUnknown);
  EXPECT_EQ(e.node_rank, kUnknown);
  EXPECT_TRUE(e.also_present.empty());
  auto id = identity_from_env(e, "n2");
  EXPECT_EQ(id.local_size, kUnknown);
  EXPECT_EQ(id.node_rank, kUnknown);
  // One node: its size is the job's, its index 0.
  auto one = identity_from_env(parse_launch_env(flux_task(2, 2, 3, 1)), "n1");
  EXPECT_EQ(one.local_rank, 2);
  EXPECT_EQ(one.local_size, 3);
  EXPECT_EQ(one.sources.local_size, "FLUX_JOB_SIZE (one node)");
  EXPECT_EQ(one.node_rank, 0);
  EXPECT_EQ(one.sources.node_rank, "FLUX_JOB_NNODES");
}

TEST(LaunchEnv, FluxWinsOverItsPmiPluginsAndOuterLaunchers) {
  // The default shell also runs the simple-PMI plugin: PMI_RANK without a Slurm step looks like hydra.
  auto e = parse_launch_env(merge(flux_task(5, 1, 8, 2), flux_pmi(5, 8)));
  EXPECT_EQ(e.launcher, Launcher::flux);
  EXPECT_EQ(e.sources.rank, "FLUX_TASK_RANK");
  EXPECT_EQ(e.local_rank, 1);  // hydra's layout would have no local rank here
  ASSERT_EQ(e.also_present.size(), 1u);
  EXPECT_EQ(e.also_present[0], Launcher::hydra);
  // flux-pmix (-o pmi=simple,pmix) adds PMIX_RANK; flux-coral2's cray-pals plugin (-o pmi=cray-pals)
  // sets PALS_RANKID, PALS_NODEID (src/shell/plugins/cray_pals.c) but no size.
  auto pmix = parse_launch_env(merge(merge(flux_task(5, 1, 8, 2), flux_pmi(5, 8)),
                                     {{"PMIX_RANK", "5"}, {"PMIX_NAMESPACE", "f1"}}));
  EXPECT_EQ(pmix.launcher, Launcher::flux);
  EXPECT_EQ(pmix.also_present, (std::vector<Launcher>{Launcher::hydra, Launcher::pmix}));
  auto pals = parse_launch_env(merge(flux_task(5, 1, 8, 2), {{"PALS_RANKID", "5"}, {"PALS_NODEID", "1"},
                                                             {"PALS_APID", "1241513984"}}));
  EXPECT_EQ(pals.launcher, Launcher::flux);
  EXPECT_EQ(pals.size, 8);
  EXPECT_EQ(pals.also_present, (std::vector<Launcher>{Launcher::pals}));
  // A Flux instance started by srun or jsrun: a job's tasks may carry the broker's SLURM_* (flux-core
  // before 0.51) or JSM_* (never cleared). They describe the broker, not the task.
  auto in_srun = parse_launch_env(merge(slurm_step(0, 0, 0), flux_task(5, 1, 8, 2)));
  EXPECT_EQ(in_srun.launcher, Launcher::flux);
  EXPECT_EQ(in_srun.rank, 5);
  EXPECT_TRUE(in_srun.nodes.empty());
  EXPECT_EQ(in_srun.also_present, (std::vector<Launcher>{Launcher::slurm}));
  EnvMap broker_jsm = {{"JSM_NAMESPACE_RANK", "0"}, {"JSM_NAMESPACE_SIZE", "2"}, {"JSM_NAMESPACE_LOCAL_RANK", "0"},
                       {"JSM_NAMESPACE_LOCAL_SIZE", "1"}};
  auto in_jsrun = parse_launch_env(merge(flux_task(5, 1, 8, 2), broker_jsm));
  EXPECT_EQ(in_jsrun.launcher, Launcher::flux);
  EXPECT_EQ(in_jsrun.rank, 5);
  EXPECT_EQ(in_jsrun.also_present, (std::vector<Launcher>{Launcher::jsm}));
  // Only Flux's variables are parsed: a broken PMI_SIZE beside them is not an error.
  EXPECT_EQ(parse_launch_env(merge(flux_task(0, 0, 2, 1), {{"PMI_RANK", "0"}, {"PMI_SIZE", "zz"}})).launcher,
            Launcher::flux);
}

TEST(LaunchEnv, TorchrunUnderFlux) {
  // `flux run -N2 --tasks-per-node=1 torchrun --nproc-per-node=4 ...`: the agent is Flux task 1 of 2,
  // the worker is torchrun's rank 5 of 8.
  EnvMap torch = {{"TORCHELASTIC_RUN_ID", "fD2e73NP"}, {"RANK", "5"},          {"WORLD_SIZE", "8"},
                  {"LOCAL_RANK", "1"},                 {"LOCAL_WORLD_SIZE", "4"}, {"GROUP_RANK", "1"},
                  {"GROUP_WORLD_SIZE", "2"}};
  auto e = parse_launch_env(merge(merge(flux_task(1, 0, 2, 2), flux_pmi(1, 2)), torch));
  EXPECT_EQ(e.launcher, Launcher::torchrun);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.size, 8);
  EXPECT_EQ(e.local_size, 4);
  EXPECT_EQ(e.node_rank, 1);
  EXPECT_EQ(e.sources.rank, "RANK");
  EXPECT_EQ(e.also_present, (std::vector<Launcher>{Launcher::flux, Launcher::hydra, Launcher::torch_env}));
}

TEST(LaunchEnv, FluxJobIdIsNotANumber) {
  // An F58 id (Unicode or ASCII prefix), a decimal id of flux-core < 0.19 beyond int, anything:
  // FLUX_JOB_ID is an opaque string, so none is an error and none is a source.
  for (const char* id : {"\xc6\x92" "D2e73NP", "fD2e73NP", "1241513984458752", "", "not-an-id"}) {
    auto e = parse_launch_env(merge(flux_task(3, 1, 4, 2), {{"FLUX_JOB_ID", id}}));
    EXPECT_EQ(e.launcher, Launcher::flux) << id;
    EXPECT_EQ(e.rank, 3) << id;
    for (const std::string* src : {&e.sources.rank, &e.sources.size, &e.sources.local_rank, &e.sources.local_size,
                                   &e.sources.node_rank, &e.sources.node_count})
      EXPECT_NE(*src, "FLUX_JOB_ID") << id;
  }
}

TEST(LaunchEnv, SlurmStep) {
  auto e = parse_launch_env(slurm_step(6, 0, 3));
  EXPECT_EQ(e.launcher, Launcher::slurm);
  EXPECT_EQ(e.rank, 6);
  EXPECT_EQ(e.size, 7);
  EXPECT_EQ(e.sources.size, "SLURM_STEP_NUM_TASKS");
  EXPECT_EQ(e.local_rank, 0);
  EXPECT_EQ(e.node_rank, 3);
  EXPECT_EQ(e.node_count, 4);
  EXPECT_EQ(e.local_size, 1);  // the last node of "2(x3),1"
  EXPECT_EQ(e.sources.local_size, "SLURM_STEP_TASKS_PER_NODE");
  EXPECT_EQ(e.nodes, (std::vector<std::string>{"node001", "node007", "node008", "node009"}));
  auto mid = parse_launch_env(slurm_step(3, 1, 1));
  EXPECT_EQ(mid.local_size, 2);
}

TEST(LaunchEnv, SlurmStepOldNamesOnly) {
  // SLURM_NPROCS / SLURM_NNODES / SLURM_TASKS_PER_NODE / SLURM_STEPID alone still work.
  EnvMap env = {{"SLURM_STEPID", "1"},  {"SLURM_PROCID", "2"}, {"SLURM_NPROCS", "3"},        {"SLURM_LOCALID", "0"},
                {"SLURM_NODEID", "1"},  {"SLURM_NNODES", "2"}, {"SLURM_TASKS_PER_NODE", "2,1"}};
  auto e = parse_launch_env(env);
  EXPECT_EQ(e.launcher, Launcher::slurm);
  EXPECT_EQ(e.sources.size, "SLURM_NPROCS");
  EXPECT_EQ(e.sources.node_count, "SLURM_NNODES");
  EXPECT_EQ(e.local_size, 1);
}

TEST(LaunchEnv, SlurmBatchStepIsNotThisProcess) {
  auto e = parse_launch_env(slurm_batch());
  EXPECT_EQ(e.launcher, Launcher::none);
  EXPECT_EQ(e.rank, kUnknown);
  EXPECT_EQ(e.size, kUnknown);
  ASSERT_EQ(e.also_present.size(), 1u);
  EXPECT_EQ(e.also_present[0], Launcher::slurm);
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes[0].find("allocation"), std::string::npos);
}

TEST(LaunchEnv, MpirunInsideSbatchUsesOpenMpi) {
  // Every rank carries the batch step's SLURM_PROCID=0 and SLURM_NTASKS=3: they must not win.
  auto e = parse_launch_env(merge(slurm_batch(), ompi(3, 4, 1, 2)));
  EXPECT_EQ(e.launcher, Launcher::openmpi);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.size, 4);
  EXPECT_EQ(e.sources.rank, "OMPI_COMM_WORLD_RANK");
  EXPECT_TRUE(e.nodes.empty());
}

TEST(LaunchEnv, SrunPmi2IsSlurmNotHydra) {
  auto env = merge(slurm_step(2, 0, 1), {{"PMI_RANK", "2"}, {"PMI_SIZE", "7"}, {"PMI_FD", "5"}, {"PMI_JOBID", "7.0"}});
  EXPECT_EQ(parse_launch_env(env).launcher, Launcher::slurm);
}

TEST(LaunchEnv, HydraAndIntelMpi) {
  EnvMap env = {{"PMI_RANK", "3"}, {"PMI_SIZE", "4"}, {"PMI_FD", "6"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}};
  auto e = parse_launch_env(env);
  EXPECT_EQ(e.launcher, Launcher::hydra);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.sources.size, "PMI_SIZE");
  EXPECT_EQ(e.sources.local_rank, "MPI_LOCALRANKID");
  EXPECT_EQ(e.local_size, 2);
  // mpiexec.hydra inside an sbatch allocation: hydra's variables win over the batch step's.
  auto in_batch = parse_launch_env(merge(slurm_batch(), env));
  EXPECT_EQ(in_batch.launcher, Launcher::hydra);
  EXPECT_EQ(in_batch.rank, 3);
}

TEST(LaunchEnv, CrayPals) {
  EnvMap env = {{"PALS_RANKID", "9"},   {"PMI_SIZE", "16"},     {"PALS_LOCAL_RANKID", "1"}, {"PALS_LOCAL_SIZE", "4"},
                {"PALS_NODEID", "2"},   {"PMI_RANK", "9"},      {"PMI_LOCAL_RANK", "1"},    {"PMI_LOCAL_SIZE", "4"}};
  auto e = parse_launch_env(env);
  EXPECT_EQ(e.launcher, Launcher::pals);
  EXPECT_EQ(e.rank, 9);
  EXPECT_EQ(e.size, 16);
  EXPECT_EQ(e.sources.local_rank, "PALS_LOCAL_RANKID");
  EXPECT_EQ(e.node_rank, 2);
  // Without the PALS_LOCAL_* names, PMI_LOCAL_* are used.
  env.erase("PALS_LOCAL_RANKID");
  env.erase("PALS_LOCAL_SIZE");
  auto f = parse_launch_env(env);
  EXPECT_EQ(f.sources.local_rank, "PMI_LOCAL_RANK");
  EXPECT_EQ(f.sources.local_size, "PMI_LOCAL_SIZE");
}

TEST(LaunchEnv, Mvapich2AndJsm) {
  auto m = parse_launch_env({{"MV2_COMM_WORLD_RANK", "1"}, {"MV2_COMM_WORLD_SIZE", "2"},
                             {"MV2_COMM_WORLD_LOCAL_RANK", "1"}, {"MV2_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(m.launcher, Launcher::mvapich2);
  EXPECT_EQ(m.sources.local_size, "MV2_COMM_WORLD_LOCAL_SIZE");
  auto j = parse_launch_env({{"JSM_NAMESPACE_RANK", "5"}, {"JSM_NAMESPACE_SIZE", "8"},
                             {"JSM_NAMESPACE_LOCAL_RANK", "1"}, {"JSM_NAMESPACE_LOCAL_SIZE", "4"}});
  EXPECT_EQ(j.launcher, Launcher::jsm);
  EXPECT_EQ(j.rank, 5);
  EXPECT_EQ(j.local_size, 4);
}

TEST(LaunchEnv, PmixRankOnly) {
  auto e = parse_launch_env({{"PMIX_RANK", "0"}, {"PMIX_NAMESPACE", "x"}});
  EXPECT_EQ(e.launcher, Launcher::pmix);
  EXPECT_EQ(e.rank, 0);
  EXPECT_EQ(e.size, kUnknown);
}

TEST(LaunchEnv, TorchrunIsInnermost) {
  EnvMap torch = {{"TORCHELASTIC_RUN_ID", "none"}, {"RANK", "5"},          {"WORLD_SIZE", "8"},
                  {"LOCAL_RANK", "1"},             {"LOCAL_WORLD_SIZE", "4"}, {"GROUP_RANK", "1"},
                  {"GROUP_WORLD_SIZE", "2"},       {"MASTER_ADDR", "n1"},  {"MASTER_PORT", "29500"}};
  // torchrun started by srun (one agent per node): the worker's RANK describes it, not SLURM_PROCID.
  EnvMap agent_slurm = {{"SLURM_STEP_ID", "0"}, {"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"},
                        {"SLURM_NODEID", "1"}, {"SLURM_NNODES", "2"}};
  auto e = parse_launch_env(merge(agent_slurm, torch));
  EXPECT_EQ(e.launcher, Launcher::torchrun);
  EXPECT_EQ(e.rank, 5);
  EXPECT_EQ(e.size, 8);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_size, 4);
  EXPECT_EQ(e.sources.node_rank, "GROUP_RANK");
  EXPECT_EQ(e.node_count, 2);
  EXPECT_EQ(e.master_addr->value, "n1");
  EXPECT_EQ(e.master_port->value, "29500");
  ASSERT_EQ(e.also_present.size(), 2u);  // slurm, and RANK/WORLD_SIZE as such
  EXPECT_EQ(e.also_present[0], Launcher::slurm);
}

TEST(LaunchEnv, TorchVariablesWithoutTorchrunRankBelowMpi) {
  // RANK/WORLD_SIZE set by hand (or by mpinit exec) do not override an MPI launcher's variables.
  EnvMap env = merge(ompi(1, 2, 1, 2), {{"RANK", "0"}, {"WORLD_SIZE", "1"}});
  EXPECT_EQ(parse_launch_env(env).launcher, Launcher::openmpi);
  auto alone = parse_launch_env({{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"NODE_RANK", "0"}});
  EXPECT_EQ(alone.launcher, Launcher::torch_env);
  EXPECT_EQ(alone.sources.node_rank, "NODE_RANK");
}

// ---- bad input: each names the variable, its value and the rule ----

TEST(LaunchEnvErrors, NotANumber) {
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_RANK", "9x"}}), {"OMPI_COMM_WORLD_RANK='9x'", "not an integer"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", ""}}), {"OMPI_COMM_WORLD_SIZE=''", "not an integer"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", " 4"}}), {"OMPI_COMM_WORLD_SIZE=' 4'", "not an integer"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", "+4"}}), {"'+4'", "not an integer"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", "4.0"}}), {"'4.0'", "not an integer"});
}

TEST(LaunchEnvErrors, NegativeAndOverflow) {
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_RANK", "-1"}}), {"OMPI_COMM_WORLD_RANK='-1'", "negative"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", "0"}}), {"OMPI_COMM_WORLD_SIZE='0'", ">= 1"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", "99999999999"}}), {"'99999999999'", "out of range"});
  expect_env_error(merge(ompi(0, 4, 0, 4), {{"OMPI_COMM_WORLD_SIZE", "99999999999999999999999"}}), {"out of range"});
}

TEST(LaunchEnvErrors, InconsistentValues) {
  expect_env_error(ompi(4, 4, 0, 4), {"OMPI_COMM_WORLD_RANK=4", "OMPI_COMM_WORLD_SIZE=4", "rank must be below"});
  expect_env_error(ompi(1, 4, 2, 2), {"OMPI_COMM_WORLD_LOCAL_RANK=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2"});
  expect_env_error(ompi(1, 4, 1, 5), {"OMPI_COMM_WORLD_LOCAL_SIZE=5", "larger than", "OMPI_COMM_WORLD_SIZE=4"});
  expect_env_error(ompi(0, 4, 1, 2), {"OMPI_COMM_WORLD_LOCAL_RANK=1", "OMPI_COMM_WORLD_RANK=0"});
  expect_env_error(merge(slurm_step(1, 0, 4), {}), {"SLURM_NODEID=4", "SLURM_STEP_NUM_NODES=4"});
}

TEST(LaunchEnvErrors, FluxValues) {
  const EnvMap ok = flux_task(5, 1, 8, 2);
  expect_env_error(merge(ok, {{"FLUX_TASK_RANK", "5x"}}), {"FLUX_TASK_RANK='5x'", "not an integer"});
  expect_env_error(merge(ok, {{"FLUX_TASK_RANK", "-1"}}), {"FLUX_TASK_RANK='-1'", "negative"});
  expect_env_error(merge(ok, {{"FLUX_TASK_LOCAL_ID", ""}}), {"FLUX_TASK_LOCAL_ID=''", "not an integer"});
  expect_env_error(merge(ok, {{"FLUX_JOB_SIZE", "0"}}), {"FLUX_JOB_SIZE='0'", ">= 1"});
  expect_env_error(merge(ok, {{"FLUX_JOB_SIZE", "99999999999"}}), {"FLUX_JOB_SIZE='99999999999'", "out of range"});
  expect_env_error(merge(ok, {{"FLUX_JOB_NNODES", "0"}}), {"FLUX_JOB_NNODES='0'", ">= 1"});
  expect_env_error(merge(ok, {{"FLUX_JOB_NNODES", "2.0"}}), {"FLUX_JOB_NNODES='2.0'", "not an integer"});
  expect_env_error(flux_task(8, 1, 8, 2), {"FLUX_TASK_RANK=8", "FLUX_JOB_SIZE=8", "rank must be below"});
  expect_env_error(flux_task(5, 1, 8, 9), {"FLUX_JOB_NNODES=9", "larger than", "FLUX_JOB_SIZE=8"});
  expect_env_error(flux_task(0, 1, 8, 2), {"FLUX_TASK_LOCAL_ID=1", "FLUX_TASK_RANK=0"});
}

TEST(LaunchEnvErrors, SlurmListsDisagree) {
  expect_env_error(merge(slurm_step(0, 0, 0), {{"SLURM_STEP_TASKS_PER_NODE", "2(x3),2"}}),
                   {"SLURM_STEP_TASKS_PER_NODE='2(x3),2'", "sums to 8", "SLURM_STEP_NUM_TASKS=7"});
  expect_env_error(merge(slurm_step(0, 0, 0), {{"SLURM_STEP_TASKS_PER_NODE", "3,4"}}),
                   {"SLURM_STEP_TASKS_PER_NODE='3,4'", "2 nodes", "SLURM_STEP_NUM_NODES=4"});
  expect_env_error(merge(slurm_step(0, 0, 0), {{"SLURM_STEP_NODELIST", "node[1-3]"}}),
                   {"SLURM_STEP_NODELIST='node[1-3]'", "3 hosts", "SLURM_STEP_NUM_NODES=4"});
  expect_env_error(merge(slurm_step(0, 0, 0), {{"SLURM_STEP_NODELIST", "node[1-3"}}),
                   {"SLURM_STEP_NODELIST='node[1-3'", "never closed"});
  expect_env_error(merge(slurm_step(0, 0, 0), {{"SLURM_STEP_TASKS_PER_NODE", "2(x3"}}),
                   {"SLURM_STEP_TASKS_PER_NODE='2(x3'", "N(xM)"});
}

TEST(LaunchEnvErrors, JobNodeListOfALargerAllocationIsOnlyANote) {
  // A step on 4 nodes of an 8-node allocation: the job's list is not the step's.
  auto env = slurm_step(0, 0, 0);
  env.erase("SLURM_STEP_NODELIST");
  env["SLURM_JOB_NODELIST"] = "node[1-8]";
  auto e = parse_launch_env(env);
  EXPECT_TRUE(e.nodes.empty());
  ASSERT_FALSE(e.notes.empty());
  EXPECT_NE(e.notes[0].find("SLURM_JOB_NODELIST"), std::string::npos);
}

TEST(LaunchEnvErrors, MasterPort) {
  expect_env_error({{"MASTER_PORT", "70000"}}, {"MASTER_PORT='70000'", "<= 65535"});
  expect_env_error({{"MASTER_PORT", "http"}}, {"MASTER_PORT='http'", "not an integer"});
  expect_env_error({{"MASTER_ADDR", ""}}, {"MASTER_ADDR=''"});
}

TEST(LaunchEnvErrors, OnlyTheChosenLauncherIsParsed) {
  // A broken variable of a launcher that does not describe this process is not an error.
  auto e = parse_launch_env(merge(ompi(0, 2, 0, 2), {{"SLURM_PROCID", "zz"}, {"SLURM_JOB_ID", "1"}}));
  EXPECT_EQ(e.launcher, Launcher::openmpi);
}

// ---- parse_int ----

TEST(ParseInt, Strict) {
  EXPECT_EQ(parse_int("X", "42", 0, 100), 42);
  EXPECT_EQ(parse_int("X", "-5", -10, 10), -5);
  EXPECT_EQ(parse_int("X", "007", 0, 100), 7);
  EXPECT_THROW(parse_int("X", "101", 0, 100), Error);
  EXPECT_THROW(parse_int("X", "4 ", 0, 100), Error);
  EXPECT_THROW(parse_int("X", "0x10", 0, 100), Error);
  try {
    parse_int("MPINIT_X", "5", 10, 20, Errc::invalid_setting);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_setting);
    EXPECT_STREQ(e.what(), "MPINIT_X='5' is too small (must be >= 10)");
  }
}

// Error::agreed() and the count ~Session reads (lib/core/failure.hpp): every live copy of an agreed
// Error counts, a plain one never does, and the count goes back when they are gone.
#include "core/failure.hpp"

TEST(AgreedError, LiveAgreedErrorsAreCountedThroughCopiesMovesAndAThrow) {
  using mpinit::detail::agreed_errors_alive;
  const int base = agreed_errors_alive();
  {
    mpinit::Error plain(mpinit::Errc::application, "one rank's");
    EXPECT_FALSE(plain.agreed());
    mpinit::Error a = mpinit::detail::ErrorAccess::agreed(mpinit::Error(mpinit::Errc::application, "everyone's"));
    EXPECT_TRUE(a.agreed());
    EXPECT_EQ(agreed_errors_alive(), base + 1);
    mpinit::Error b = a, c = std::move(b);
    EXPECT_EQ(agreed_errors_alive(), base + 3);
    plain = a;  // assigned over: counts now
    EXPECT_TRUE(plain.agreed());
    EXPECT_EQ(agreed_errors_alive(), base + 4);
    plain = mpinit::Error(mpinit::Errc::internal, "again one rank's");
    EXPECT_EQ(agreed_errors_alive(), base + 3);
    try {
      throw a;
    } catch (const mpinit::Error& e) {
      EXPECT_TRUE(e.agreed());
      EXPECT_EQ(agreed_errors_alive(), base + 4);  // the exception object in flight
    }
    EXPECT_EQ(agreed_errors_alive(), base + 3);
  }
  EXPECT_EQ(agreed_errors_alive(), base);
  try {
    throw mpinit::Error(mpinit::Errc::internal, "lone");
  } catch (const mpinit::Error&) {
    EXPECT_EQ(agreed_errors_alive(), base);
  }
}
