/* The MPI_Init probe's internals (libinit_probe.so, see init_probe.c): a growable text buffer with
 * the few JSON writers the record needs (probe_json.c), and the readers of the process's state
 * (probe_state.c), each appending one JSON value. Nothing here is exported from the library. */
#pragma once

#include <stddef.h>

/* A text buffer; `failed` is set for good once an allocation fails (the record is then dropped). */
typedef struct {
  char* data;
  size_t len, cap;
  int failed;
} Buf;

void buf_add(Buf* b, const char* s, size_t n);
void buf_str(Buf* b, const char* s);
void buf_fmt(Buf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string (quoted, escaped), or null when s is NULL. */
void buf_json(Buf* b, const char* s);
/* A JSON string of the first n bytes of s. */
void buf_json_n(Buf* b, const char* s, size_t n);
/* The set bits of `bits` (nbits long) as a quoted list of ranges: "0-3,8"; "" when none is set. */
void buf_bit_list(Buf* b, const unsigned long* bits, size_t nbits);

/* "threads": every thread of the process, [{"tid":..,"comm":..,"cpus":".."}, ...]. */
void probe_threads(Buf* b);
/* "mempolicy": the calling thread's {"mode":..,"flags":[..],"nodes":".."}. */
void probe_mempolicy(Buf* b);
/* "rank" and "rank_var": from the launcher's environment, before MPI_Init. */
void probe_rank(Buf* b);
/* "cuda" and "cuda_device": the current device, only where the CUDA runtime is already loaded. */
void probe_cuda(Buf* b);
/* "env": MPI's and NCCL's network variables (null when unset) and every MPINIT_* variable. */
void probe_env(Buf* b);
