/* The C example: launch (MPI initialized if needed), print identity, placement and seed, end. */
#include <mpinit/mpinit.h>
#include <stdio.h>

int main(int argc, char** argv) {
  mpinit_session_t s;
  if (mpinit_launch(&argc, &argv, MPI_COMM_NULL, NULL, &s) != MPINIT_SUCCESS) {
    fprintf(stderr, "%s\n", mpinit_last_error()); /* the same message on every rank */
    return 1;
  }
  printf("rank %d/%d, local %d/%d, node %d/%d on %s, cpus %s, gpu %d, seed %llu\n", mpinit_rank(s),
         mpinit_size(s), mpinit_local_rank(s), mpinit_local_size(s), mpinit_node_rank(s), mpinit_node_count(s),
         mpinit_host(s), mpinit_cpus(s), mpinit_gpu(s), (unsigned long long)mpinit_rank_seed(s));
  MPI_Barrier(mpinit_comm(s));
  mpinit_session_destroy(s); /* finalizes MPI: the session initialized it */
  return 0;
}
