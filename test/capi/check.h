/* The C tests' check: a failed condition is printed with the rank and counted; each test ends
 * with an allreduce of `failures`. Needs nothing of mpinit, so clients of any mpinit.h use it. */
#ifndef MPINIT_TEST_CHECK_H
#define MPINIT_TEST_CHECK_H

#include <stdio.h>

static int failures = 0, rank = -1;

#define CHECK(cond, ...)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "[rank %d] %s:%d: %s: ", rank, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                               \
      fprintf(stderr, "\n");                                                      \
      ++failures;                                                                 \
    }                                                                             \
  } while (0)

#endif
