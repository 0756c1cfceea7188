/* libinit_probe.so: what a process looks like when it enters MPI_Init, for the tests that check
 * that mpinit placed it before MPI started (docs/reliability.md, "The MPI_Init probe").
 *
 * Loaded with LD_PRELOAD, it defines MPI_Init and MPI_Init_thread, and nothing else: they come
 * before libmpi's for every caller (the program, libmpinit, an MPI binding for Python), record the
 * process's state, then call PMPI_Init / PMPI_Init_thread. The record is one JSON line in
 * $INIT_PROBE_DIR/init.<host>.<pid>.json (created O_EXCL, mode 0600), written once per process;
 * nothing is done when INIT_PROBE_DIR is unset. The program sees nothing else: arguments, return
 * values and errno are its own. If the file cannot be written, one line on stderr says why. */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#define PROBE_EXPORT __attribute__((visibility("default")))

static void complain(const char* what, const char* why) {
  fprintf(stderr, "init_probe: %s: %s\n", what, why);
}

static void write_record(const char* dir, const char* host, const Buf* record) {
  char path[4096];
  int n = snprintf(path, sizeof path, "%s/init.%s.%ld.json", dir, host, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof path) {
    complain(dir, "the record's path is too long");
    return;
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    complain(path, strerror(errno));
    return;
  }
  for (size_t done = 0; done < record->len;) {
    ssize_t w = write(fd, record->data + done, record->len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      complain(path, strerror(errno));
      break;
    }
    done += (size_t)w;
  }
  if (close(fd) != 0) complain(path, strerror(errno));
}

/* Threads and memory policy are read first: looking at CUDA may start the driver's threads. */
static void record(const char* function) {
  static int recorded = 0;
  if (__atomic_exchange_n(&recorded, 1, __ATOMIC_SEQ_CST)) return;
  const char* dir = getenv("INIT_PROBE_DIR");
  if (!dir || !*dir) return;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  for (char* c = host; *c; ++c)
    if (*c == '/') *c = '_';
  Buf b = {0};
  buf_fmt(&b, "{\"version\":1,\"function\":\"%s\",\"pid\":%ld,\"tid\":%ld,\"host\":", function, (long)getpid(),
          (long)syscall(SYS_gettid));
  buf_json(&b, host);
  buf_str(&b, ",");
  probe_rank(&b);
  buf_str(&b, ",\"threads\":");
  probe_threads(&b);
  buf_str(&b, ",\"mempolicy\":");
  probe_mempolicy(&b);
  buf_str(&b, ",");
  probe_cuda(&b);
  buf_str(&b, ",\"env\":");
  probe_env(&b);
  buf_str(&b, "}\n");
  if (b.failed)
    complain(dir, "out of memory for the record");
  else
    write_record(dir, host, &b);
  free(b.data);
}

PROBE_EXPORT int MPI_Init(int* argc, char*** argv) {
  int saved = errno;
  record("MPI_Init");
  errno = saved;
  return PMPI_Init(argc, argv);
}

PROBE_EXPORT int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  int saved = errno;
  record("MPI_Init_thread");
  errno = saved;
  return PMPI_Init_thread(argc, argv, required, provided);
}
