/* The C API, compiled as pure C (C11), under real mpirun: launch on the world and on a caller's
 * communicator, getters, seeds, errors that every rank shares, and NULL handling. Each rank checks
 * its own results; the exit status is non-zero on every rank if any rank failed. */
#include <mpi.h>
#include <mpinit/mpinit.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Does every rank of comm hold the same string? */
static int same_everywhere(const char* s, MPI_Comm comm) {
  char root[1024] = {0};
  int me = 0, same, all = 0;
  MPI_Comm_rank(comm, &me);
  if (me == 0) strncpy(root, s, sizeof root - 1);
  MPI_Bcast(root, sizeof root, MPI_CHAR, 0, comm);
  same = strncmp(root, s, sizeof root - 1) == 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, comm);
  return all;
}

static void world_session(int size) {
  mpinit_config_t config = MPINIT_CONFIG_INITIALIZER;
  mpinit_session_t s = NULL;
  config.seed = "77";
  mpinit_result_t rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
  CHECK(rc == MPINIT_SUCCESS, "%s: %s", mpinit_error_string(rc), mpinit_last_error());
  if (rc != MPINIT_SUCCESS) return;
  CHECK(mpinit_rank(s) == rank, "rank %d", mpinit_rank(s));
  CHECK(mpinit_size(s) == size, "size %d", mpinit_size(s));
  CHECK(mpinit_local_rank(s) == rank && mpinit_local_size(s) == size, "one node: local = world");
  CHECK(mpinit_node_rank(s) == 0 && mpinit_node_count(s) == 1, "node %d/%d", mpinit_node_rank(s),
        mpinit_node_count(s));
  CHECK(strlen(mpinit_host(s)) > 0, "no host");
  int cmp = MPI_UNEQUAL;
  MPI_Comm_compare(mpinit_comm(s), MPI_COMM_WORLD, &cmp);
  CHECK(cmp == MPI_CONGRUENT, "comm is not a duplicate of the world (%d)", cmp);
  CHECK(MPI_Comm_f2c(mpinit_comm_f(s)) == mpinit_comm(s), "Fortran handle");
  CHECK(strlen(mpinit_cpus(s)) > 0, "no CPU set");
  CHECK(mpinit_gpu(s) == -1 && strcmp(mpinit_gpu_busid(s), "") == 0, "a GPU on a machine without one");
  CHECK(mpinit_global_seed(s) == 77, "global seed %llu", (unsigned long long)mpinit_global_seed(s));
  uint64_t mine = mpinit_rank_seed(s), data = 0;
  uint64_t* all = malloc(sizeof(uint64_t) * size);
  MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
  for (int i = 0; i < size; ++i)
    for (int j = i + 1; j < size; ++j) CHECK(all[i] != all[j], "ranks %d and %d share a seed", i, j);
  free(all);
  CHECK(mpinit_seed_for(s, "data", &data) == MPINIT_SUCCESS && data != mine, "seed_for");
  struct ncclComm* nc = NULL;
  rc = mpinit_nccl(s, &nc);
  /* No GPU here: an NCCL error (or not built), the same message on every rank. */
  CHECK(rc == MPINIT_ERR_NCCL || rc == MPINIT_ERR_NOT_BUILT || rc == MPINIT_SUCCESS, "nccl: %d", rc);
  if (rc != MPINIT_SUCCESS) {
    CHECK(nc == NULL, "comm set on failure");
    CHECK(same_everywhere(mpinit_last_error(), MPI_COMM_WORLD), "NCCL error differs: %s", mpinit_last_error());
  }
  mpinit_session_destroy(s);
}

static void half_session(void) {
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &half);
  int hrank, hsize;
  MPI_Comm_rank(half, &hrank);
  MPI_Comm_size(half, &hsize);
  mpinit_session_t s = NULL;
  mpinit_result_t rc = mpinit_launch_f(MPI_Comm_c2f(half), NULL, &s);
  CHECK(rc == MPINIT_SUCCESS, "%s", mpinit_last_error());
  if (rc == MPINIT_SUCCESS) {
    CHECK(mpinit_rank(s) == hrank && mpinit_size(s) == hsize, "half: %d/%d", mpinit_rank(s), mpinit_size(s));
    mpinit_session_destroy(s);
  }
  MPI_Comm_free(&half);
}

/* The config's versioning: a struct this library cannot read is refused with a clear message. */
static void versions(void) {
  mpinit_session_t s = NULL;
  mpinit_config_t config = MPINIT_CONFIG_INITIALIZER;
  CHECK(config.struct_size == (int)sizeof config && config.version == MPINIT_CONFIG_VERSION &&
            config.magic == MPINIT_CONFIG_MAGIC, "initializer");
  config.magic = 0;
  CHECK(mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s) == MPINIT_ERR_INVALID_ARGUMENT, "magic");
  CHECK(strstr(mpinit_last_error(), "mpinit_config_t.magic is not MPINIT_CONFIG_MAGIC"), "%s", mpinit_last_error());
  config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  config.version = MPINIT_CONFIG_VERSION + 1;
  CHECK(mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s) == MPINIT_ERR_INVALID_ARGUMENT, "newer");
  CHECK(strstr(mpinit_last_error(), "is newer than this library"), "%s", mpinit_last_error());
  config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  config.struct_size -= 4;
  CHECK(mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s) == MPINIT_ERR_INVALID_ARGUMENT, "size of version 2");
  CHECK(strstr(mpinit_last_error(), "is not a layout this library knows"), "%s", mpinit_last_error());
  CHECK(s == NULL, "session set on failure");
}

/* Every field of version 2 is read: a bad value in it fails, naming the field; good values launch. */
static void every_field(void) {
  struct {
    size_t offset;
    int bad;
    const char* text;
  } fields[] = {
      {offsetof(mpinit_config_t, thread_level), 7, "mpinit_config_t.thread_level='7' is not one of single|"},
      {offsetof(mpinit_config_t, log_ranks), 7, "mpinit_config_t.log_ranks='7' is not one of root|all"},
      {offsetof(mpinit_config_t, check), 7, "mpinit_config_t.check='7' is not one of off|warn|error"},
      {offsetof(mpinit_config_t, membind), 7, "mpinit_config_t.membind='7' is not one of on|off"},
      {offsetof(mpinit_config_t, oversubscribe), 7, "mpinit_config_t.oversubscribe='7' is not one of on|off"},
      {offsetof(mpinit_config_t, export_net), 7, "mpinit_config_t.export_net='7' is not one of off|mpi|all"},
      {offsetof(mpinit_config_t, place), 7, "mpinit_config_t.place='7' is not one of auto|before|after"},
      {offsetof(mpinit_config_t, topology_share), 7, "mpinit_config_t.topology_share='7' is not one of on|off"},
      {offsetof(mpinit_config_t, rebind), 7, "mpinit_config_t.rebind='7' is not one of on|off"},
      {offsetof(mpinit_config_t, nccl_ranks_per_root), 0, "mpinit_config_t.nccl_ranks_per_root='0' is too small"},
      {offsetof(mpinit_config_t, launch_timeout_s), -5, "mpinit_config_t.launch_timeout_s='-5' is negative"},
      {offsetof(mpinit_config_t, placement), 7, "mpinit_config_t.placement='7' is not one of on|off"},
      {offsetof(mpinit_config_t, mode), 7, "mpinit_config_t.mode='7' is not one of own|adopt"},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; ++i) {
    mpinit_config_t config = MPINIT_CONFIG_INITIALIZER;
    mpinit_session_t s = NULL;
    *(int*)((char*)&config + fields[i].offset) = fields[i].bad;
    mpinit_result_t rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
    CHECK(rc == MPINIT_ERR_INVALID_SETTING && strstr(mpinit_last_error(), fields[i].text), "%s: %s", fields[i].text,
          mpinit_last_error());
  }
  mpinit_config_t config = MPINIT_CONFIG_INITIALIZER;
  mpinit_session_t s = NULL;
  config.thread_level = MPINIT_THREAD_SINGLE; /* what MPI_Init gave: a level set here is strict */
  config.log_ranks = MPINIT_LOG_RANKS_ROOT;
  config.check = MPINIT_CHECK_WARN;
  config.membind = MPINIT_OFF;
  config.oversubscribe = MPINIT_ON;
  config.export_net = MPINIT_NET_MPI;
  config.place = MPINIT_PLACE_AFTER; /* MPI is up already: "before" would be refused */
  config.topology_share = MPINIT_ON;
  config.rebind = MPINIT_OFF;
  config.nccl_ranks_per_root = 64;
  config.launch_timeout_s = 0;
  mpinit_result_t rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
  CHECK(rc == MPINIT_SUCCESS, "version 2 fields: %s", mpinit_last_error());
  mpinit_session_destroy(s);
}

static void errors(void) {
  mpinit_session_t s = (mpinit_session_t)1;
  mpinit_config_t config = MPINIT_CONFIG_INITIALIZER;
  /* A bad field on the last rank only: every rank fails alike, naming the field. */
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank == size - 1) config.nccl_timeout_s = 0;
  mpinit_result_t rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
  CHECK(rc == MPINIT_ERR_INVALID_SETTING, "rc %d", rc);
  CHECK(s == NULL, "session set on failure");
  CHECK(strstr(mpinit_last_error(), "mpinit_config_t.nccl_timeout_s='0'") != NULL, "%s", mpinit_last_error());
  CHECK(same_everywhere(mpinit_last_error(), MPI_COMM_WORLD), "message differs: %s", mpinit_last_error());
  char small[8];
  int full = mpinit_last_error_copy(small, sizeof small);
  CHECK(full == (int)strlen(mpinit_last_error()) && strlen(small) == 7, "copy %d", full);

  config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  config.gpu_policy = 9;
  rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
  CHECK(rc == MPINIT_ERR_INVALID_SETTING, "rc %d", rc);
  CHECK(strstr(mpinit_last_error(), "mpinit_config_t.gpu_policy='9' is not one of spread|exclusive|split|none"),
        "%s", mpinit_last_error());
  config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  config.seed = "lucky";
  rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s);
  CHECK(rc == MPINIT_ERR_INVALID_SETTING && strstr(mpinit_last_error(), "mpinit_config_t.seed='lucky'"), "%s",
        mpinit_last_error());
  config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  config.struct_size = 4;
  CHECK(mpinit_launch(NULL, NULL, MPI_COMM_NULL, &config, &s) == MPINIT_ERR_INVALID_ARGUMENT, "struct_size");
  CHECK(strstr(mpinit_last_error(), "mpinit_config_t.struct_size=4 is not the size of any mpinit_config_t version"),
        "%s", mpinit_last_error());
  versions();
  every_field();
  CHECK(mpinit_launch(NULL, NULL, MPI_COMM_NULL, NULL, NULL) == MPINIT_ERR_INVALID_ARGUMENT, "NULL out");
  /* NULL sessions are harmless. */
  CHECK(mpinit_rank(NULL) == -1 && strcmp(mpinit_host(NULL), "") == 0, "NULL getters");
  CHECK(mpinit_comm(NULL) == MPI_COMM_NULL, "NULL comm");
  uint64_t x;
  CHECK(mpinit_seed_for(NULL, "a", &x) == MPINIT_ERR_INVALID_ARGUMENT, "NULL seed_for");
  mpinit_session_destroy(NULL);
  CHECK(strcmp(mpinit_error_string(MPINIT_ERR_NCCL), "NCCL error") == 0, "error string");
  CHECK(strcmp(mpinit_version(), "") != 0, "version");
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int size, any = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  world_session(size);
  half_session();
  errors();
  /* The sessions adopted MPI: it is still ours to use and finalize. */
  MPI_Allreduce(&failures, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("C API: %s (%d failure(s) over %d ranks)\n", any ? "FAILED" : "ok", any, size);
  MPI_Finalize();
  return any ? 1 : 0;
}
