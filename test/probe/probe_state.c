/* The MPI_Init probe's readers (probe.h): each appends one part of the record, read from the
 * kernel (/proc/self/task, sched_getaffinity, get_mempolicy), the environment, or the CUDA runtime
 * the program has loaded. A reader that cannot read says so in the record (null, "error"). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

/* The thread's CPU set, in a set grown until the kernel's fits; NULL with *err set on failure. */
static cpu_set_t* thread_affinity(pid_t tid, size_t* bytes, int* err) {
  for (int ncpus = 1024; ncpus <= (1 << 20); ncpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(ncpus);
    if (!set) {
      *err = ENOMEM;
      return NULL;
    }
    *bytes = CPU_ALLOC_SIZE(ncpus);
    if (sched_getaffinity(tid, *bytes, set) == 0) return set;
    *err = errno;
    CPU_FREE(set);
    if (*err != EINVAL) return NULL;
  }
  return NULL;
}

static const char* thread_comm(const char* tid, char* out, size_t size) {
  char path[320];
  snprintf(path, sizeof path, "/proc/self/task/%s/comm", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, out, size - 1);
  close(fd);
  if (n < 0) return NULL;
  out[n] = '\0';
  out[strcspn(out, "\n")] = '\0';
  return out;
}

void probe_threads(Buf* b) {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) {
    buf_str(b, "null");
    return;
  }
  buf_str(b, "[");
  const char* sep = "";
  for (struct dirent* e; (e = readdir(dir));) {
    char* end;
    long tid = strtol(e->d_name, &end, 10);
    if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end) continue;
    size_t bytes = 0;
    int err = 0;
    cpu_set_t* set = thread_affinity((pid_t)tid, &bytes, &err);
    if (!set && err == ESRCH) continue;  // the thread ended since readdir
    char comm[64];
    buf_fmt(b, "%s{\"tid\":%ld,\"comm\":", sep, tid);
    buf_json(b, thread_comm(e->d_name, comm, sizeof comm));
    buf_str(b, ",\"cpus\":");
    if (set) {
      buf_bit_list(b, (const unsigned long*)set, 8 * bytes);
      CPU_FREE(set);
    } else {
      buf_str(b, "null,\"error\":");
      buf_json(b, strerror(err));
    }
    buf_str(b, "}");
    sep = ",";
  }
  closedir(dir);
  buf_str(b, "]");
}

/* Linux's <linux/mempolicy.h>, spelled here so that no libnuma header is needed. */
enum { kMaxNodes = 4096 };
static const char* const kModes[] = {"default",        "preferred",          "bind", "interleave", "local",
                                     "preferred_many", "weighted_interleave"};
static const struct {
  int bit;
  const char* name;
} kModeFlags[] = {{1 << 15, "static_nodes"}, {1 << 14, "relative_nodes"}, {1 << 13, "numa_balancing"}};

void probe_mempolicy(Buf* b) {
  unsigned long nodes[kMaxNodes / (8 * sizeof(unsigned long))] = {0};
  int mode = 0;
  if (syscall(SYS_get_mempolicy, &mode, nodes, (unsigned long)kMaxNodes, NULL, 0UL) != 0) {
    buf_str(b, "{\"mode\":null,\"flags\":[],\"nodes\":null,\"error\":");
    buf_json(b, strerror(errno));
    buf_str(b, "}");
    return;
  }
  int flags = 0;
  for (size_t i = 0; i < sizeof kModeFlags / sizeof kModeFlags[0]; ++i) flags |= kModeFlags[i].bit;
  int base = mode & ~flags;
  if (base >= 0 && (size_t)base < sizeof kModes / sizeof kModes[0])
    buf_fmt(b, "{\"mode\":\"%s\",\"flags\":[", kModes[base]);
  else
    buf_fmt(b, "{\"mode\":\"unknown %d\",\"flags\":[", base);
  const char* sep = "";
  for (size_t i = 0; i < sizeof kModeFlags / sizeof kModeFlags[0]; ++i) {
    if (!(mode & kModeFlags[i].bit)) continue;
    buf_fmt(b, "%s\"%s\"", sep, kModeFlags[i].name);
    sep = ",";
  }
  buf_str(b, "],\"nodes\":");
  buf_bit_list(b, nodes, kMaxNodes);
  buf_str(b, "}");
}

void probe_rank(Buf* b) {
  static const char* const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID", "PMIX_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; ++i) {
    const char* v = getenv(vars[i]);
    if (!v) continue;
    char* end;
    errno = 0;
    long rank = strtol(v, &end, 10);
    if (end != v && !*end && !errno && rank >= 0 && rank <= INT_MAX)
      buf_fmt(b, "\"rank\":%ld,\"rank_var\":\"%s\"", rank, vars[i]);
    else
      buf_fmt(b, "\"rank\":null,\"rank_var\":\"%s\"", vars[i]);
    return;
  }
  buf_str(b, "\"rank\":null,\"rank_var\":null");
}

typedef int (*GetDevice)(int*);

/* cudaGetDevice from a CUDA runtime already in the process (globally, or loaded RTLD_LOCAL as
 * Python's extension modules are); never loads one. *handle is to be dlclose'd when set. */
static GetDevice loaded_cuda(void** handle) {
  static const char* const sonames[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"};
  void* fn = dlsym(RTLD_DEFAULT, "cudaGetDevice");
  *handle = NULL;
  for (size_t i = 0; !fn && i < sizeof sonames / sizeof sonames[0]; ++i) {
    if (!(*handle = dlopen(sonames[i], RTLD_LAZY | RTLD_NOLOAD))) continue;
    if (!(fn = dlsym(*handle, "cudaGetDevice"))) {
      dlclose(*handle);
      *handle = NULL;
    }
  }
  dlerror();  // the failed look-ups leave no message for the program's own dlerror()
  return (GetDevice)fn;
}

void probe_cuda(Buf* b) {
  void* handle;
  GetDevice get_device = loaded_cuda(&handle);
  if (!get_device) {
    buf_str(b, "\"cuda\":\"not_loaded\",\"cuda_device\":null");
    return;
  }
  int device = -1;
  int status = get_device(&device);
  if (status == 0)
    buf_fmt(b, "\"cuda\":\"ok\",\"cuda_device\":%d", device);
  else
    buf_fmt(b, "\"cuda\":\"error %d\",\"cuda_device\":null", status);
  if (handle) dlclose(handle);
}

extern char** environ;

void probe_env(Buf* b) {
  static const char* const vars[] = {
      "UCX_NET_DEVICES",          "UCX_TLS",     "OMPI_MCA_btl_tcp_if_include", "OMPI_MCA_btl_openib_if_include",
      "OMPI_MCA_pml_ucx_devices", "FI_PROVIDER", "FI_CXI_DEVICE_NAME",          "NCCL_IB_HCA",
      "NCCL_SOCKET_IFNAME",
  };
  buf_str(b, "{");
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; ++i) {
    buf_fmt(b, "%s\"%s\":", i ? "," : "", vars[i]);
    buf_json(b, getenv(vars[i]));
  }
  for (char** e = environ; e && *e; ++e) {
    const char* eq = strchr(*e, '=');
    if (strncmp(*e, "MPINIT_", 7) != 0 || !eq) continue;
    buf_str(b, ",");
    buf_json_n(b, *e, (size_t)(eq - *e));
    buf_str(b, ":");
    buf_json(b, eq + 1);
  }
  buf_str(b, "}");
}
