/* A C client of mpinit 0.1, compiled against the frozen 0.1 header (frozen/mpinit-0.1.h, never
 * edited) and run against today's library: it must still launch with 0.1's
 * MPINIT_CONFIG_INITIALIZER, read its identity and seeds, and destroy its session. The library
 * must read only the fields 0.1's struct has: the struct sits in front of bytes that would be
 * invalid settings, were they read. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "mpinit-0.1.h"

#include "check.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int size, any = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  /* 0.1's config, then bytes a newer library would misread as settings if it read past it. */
  struct {
    mpinit_config_t config;
    unsigned char after[256];
  } buf;
  memset(&buf, 0x7f, sizeof buf);
  buf.config = (mpinit_config_t)MPINIT_CONFIG_INITIALIZER;
  buf.config.seed = "4242";
  buf.config.gpu_policy = MPINIT_GPU_NONE;
  CHECK(buf.config.struct_size == (int)sizeof(mpinit_config_t), "0.1's initializer");

  mpinit_session_t s = NULL;
  mpinit_result_t rc = mpinit_launch(&argc, &argv, MPI_COMM_NULL, &buf.config, &s);
  CHECK(rc == MPINIT_SUCCESS, "launch: %s: %s", mpinit_error_string(rc), mpinit_last_error());
  if (rc == MPINIT_SUCCESS) {
    CHECK(mpinit_rank(s) == rank && mpinit_size(s) == size, "identity %d/%d", mpinit_rank(s), mpinit_size(s));
    CHECK(mpinit_local_rank(s) == rank && mpinit_local_size(s) == size, "one node");
    CHECK(mpinit_node_rank(s) == 0 && mpinit_node_count(s) == 1, "node");
    CHECK(strlen(mpinit_host(s)) > 0, "host");
    CHECK(mpinit_global_seed(s) == 4242, "global seed %llu", (unsigned long long)mpinit_global_seed(s));
    uint64_t mine = mpinit_rank_seed(s), root = mine;
    MPI_Bcast(&root, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    CHECK(rank == 0 || mine != root, "rank seed equals rank 0's");
    int cmp = MPI_UNEQUAL;
    MPI_Comm_compare(mpinit_comm(s), MPI_COMM_WORLD, &cmp);
    CHECK(cmp == MPI_CONGRUENT, "comm");
    mpinit_session_destroy(s);
  }
  /* 0.1's error path still names 0.1's fields. */
  mpinit_config_t bad = MPINIT_CONFIG_INITIALIZER;
  bad.nccl_timeout_s = 0;
  rc = mpinit_launch(NULL, NULL, MPI_COMM_NULL, &bad, &s);
  CHECK(rc == MPINIT_ERR_INVALID_SETTING && strstr(mpinit_last_error(), "mpinit_config_t.nccl_timeout_s='0'"), "%s",
        mpinit_last_error());

  MPI_Allreduce(&failures, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("C API 0.1 client: %s (%d failure(s) over %d ranks)\n", any ? "FAILED" : "ok", any, size);
  MPI_Finalize();
  return any ? 1 : 0;
}
