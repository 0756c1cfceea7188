/* mpinit's C API: an opaque session made from an MPI communicator (so C and Fortran codes can
 * pass theirs), getters for identity, placement and seeds, the NCCL communicator, and error
 * codes with a message. No C++ exception ever crosses it. Link with -lmpinit. */
#ifndef MPINIT_H
#define MPINIT_H

#include <mpi.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Everything declared here is the library's C ABI (it is built with hidden visibility). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/** Result of every call that can fail. MPINIT_SUCCESS is 0. */
typedef enum mpinit_result {
  MPINIT_SUCCESS = 0,
  MPINIT_ERR_INVALID_ENVIRONMENT = 1, /**< a launcher variable is malformed or inconsistent */
  MPINIT_ERR_INVALID_SETTING = 2,     /**< an MPINIT_* variable, flag or config field is bad */
  MPINIT_ERR_MPI = 3,                 /**< an MPI call failed or MPI is in the wrong state */
  MPINIT_ERR_MISMATCH = 4,            /**< MPI and the launcher's environment disagree */
  MPINIT_ERR_NOT_BUILT = 5,           /**< the feature asked for was not built in (NCCL, hwloc) */
  MPINIT_ERR_NCCL = 6,                /**< NCCL failed, timed out or reported an async error */
  MPINIT_ERR_INTERNAL = 7,            /**< a bug in mpinit */
  MPINIT_ERR_INVALID_ARGUMENT = 8,    /**< a NULL session or output pointer, or a bad config */
  MPINIT_ERR_SYSTEM = 9,              /**< an OS, hwloc or CUDA call failed (binding, cudaSetDevice) */
  MPINIT_ERR_APPLICATION = 10         /**< a failure the application reported (Session::agree) */
} mpinit_result_t;

/** "Leave this config field to the flags, the MPINIT_* environment or the default." */
#define MPINIT_UNSET (-1)

enum { MPINIT_OFF = 0, MPINIT_ON = 1 };
enum { MPINIT_MODE_OWN = 0, MPINIT_MODE_ADOPT = 1, MPINIT_MODE_OWN_IF_NEEDED = 2, MPINIT_MODE_ENV_ONLY = 3 };
enum { MPINIT_GPU_SPREAD = 0, MPINIT_GPU_EXCLUSIVE = 1, MPINIT_GPU_SPLIT = 2, MPINIT_GPU_NONE = 3 };
enum { MPINIT_NCCL_OFF = 0, MPINIT_NCCL_LAZY = 1, MPINIT_NCCL_LAUNCH = 2 };
enum { MPINIT_THREAD_SINGLE = 0, MPINIT_THREAD_FUNNELED = 1, MPINIT_THREAD_SERIALIZED = 2, MPINIT_THREAD_MULTIPLE = 3 };
enum { MPINIT_CHECK_OFF = 0, MPINIT_CHECK_WARN = 1, MPINIT_CHECK_ERROR = 2 };
enum { MPINIT_LOG_RANKS_ROOT = 0, MPINIT_LOG_RANKS_ALL = 1 };
enum { MPINIT_NET_OFF = 0, MPINIT_NET_MPI = 1, MPINIT_NET_ALL = 2 };
enum { MPINIT_PLACE_AUTO = 0, MPINIT_PLACE_BEFORE = 1, MPINIT_PLACE_AFTER = 2 };
enum {
  MPINIT_LOG_NONE = 0, MPINIT_LOG_ERROR = 1, MPINIT_LOG_WARN = 2, MPINIT_LOG_INFO = 3, MPINIT_LOG_DEBUG = 4,
  MPINIT_LOG_TRACE = 5
};

/** The config's layout version; MPINIT_CONFIG_MAGIC marks a config of version 2 or later. */
#define MPINIT_CONFIG_VERSION 2
#define MPINIT_CONFIG_MAGIC 0x6d70696eu /* "mpin" */

/** Explicit settings (they win over flags and the environment), one field per setting. Start
 * from MPINIT_CONFIG_INITIALIZER: every field unset. Versioned like NCCL's ncclConfig_t: the
 * library reads the fields a client's struct has (struct_size) and defaults the others, so a
 * client built against an older mpinit.h keeps working; new fields are only ever appended. */
typedef struct mpinit_config {
  int struct_size;      /**< sizeof(mpinit_config_t), as the client was compiled */
  /* version 1 (mpinit 0.1) */
  int mode;             /**< MPINIT_MODE_* */
  int placement;        /**< MPINIT_OFF, MPINIT_ON */
  int bind;             /**< MPINIT_OFF, MPINIT_ON */
  int gpu_policy;       /**< MPINIT_GPU_* */
  int log_level;        /**< MPINIT_LOG_* */
  int nccl;             /**< MPINIT_NCCL_* */
  int nccl_timeout_s;   /**< seconds, 1 to 86400 */
  const char* seed;     /**< "1234" or "random"; NULL: unset */
  const char* topology; /**< an hwloc XML file to plan on; NULL: this machine */
  /* version 2 (mpinit 0.2) */
  unsigned int magic;   /**< MPINIT_CONFIG_MAGIC */
  int version;          /**< MPINIT_CONFIG_VERSION */
  int thread_level;     /**< MPINIT_THREAD_* */
  int log_ranks;        /**< MPINIT_LOG_RANKS_ROOT, MPINIT_LOG_RANKS_ALL */
  int check;            /**< MPINIT_CHECK_* */
  int membind;          /**< MPINIT_OFF, MPINIT_ON */
  int oversubscribe;    /**< MPINIT_OFF, MPINIT_ON */
  int export_net;       /**< MPINIT_NET_* */
  int nccl_ranks_per_root; /**< >= 1 */
  int launch_timeout_s; /**< seconds, 0 (wait for ever) to 86400 */
  int place;            /**< MPINIT_PLACE_* */
  int topology_share;   /**< MPINIT_OFF, MPINIT_ON */
  int rebind;           /**< MPINIT_OFF, MPINIT_ON */
  const char* share_dir; /**< an absolute directory; NULL: automatic */
} mpinit_config_t;

#define MPINIT_CONFIG_INITIALIZER                                                                       \
  {                                                                                                     \
    (int)sizeof(mpinit_config_t), MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, \
        MPINIT_UNSET, MPINIT_UNSET, NULL, NULL, MPINIT_CONFIG_MAGIC, MPINIT_CONFIG_VERSION, MPINIT_UNSET, \
        MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, \
        MPINIT_UNSET, MPINIT_UNSET, MPINIT_UNSET, NULL                                                 \
  }

typedef struct mpinit_session_s* mpinit_session_t;

/** NCCL's communicator type (ncclComm_t), declared here so that this header needs no nccl.h. */
struct ncclComm;

/** Launch on `comm` (MPI_COMM_NULL: MPI_COMM_WORLD, initializing MPI if needed); takes the
 * --mpinit-* flags out of argc/argv (both may be NULL). On failure *session is NULL and every
 * rank gets the same result and message (mpinit_last_error). config may be NULL. */
mpinit_result_t mpinit_launch(int* argc, char*** argv, MPI_Comm comm, const mpinit_config_t* config,
                              mpinit_session_t* session);
/** The same with a Fortran communicator handle (MPI must be initialized). */
mpinit_result_t mpinit_launch_f(MPI_Fint comm, const mpinit_config_t* config, mpinit_session_t* session);
/** End the session: its NCCL communicators, its MPI communicators, and MPI itself if the
 * session initialized it. NULL is fine. */
void mpinit_session_destroy(mpinit_session_t session);

/** Identity (-1 / "" for a NULL session). */
int mpinit_rank(mpinit_session_t s);
int mpinit_size(mpinit_session_t s);
int mpinit_local_rank(mpinit_session_t s);
int mpinit_local_size(mpinit_session_t s);
int mpinit_node_rank(mpinit_session_t s);
int mpinit_node_count(mpinit_session_t s);
const char* mpinit_host(mpinit_session_t s);
/** The session's duplicate of the world (or of the communicator given); MPI_COMM_NULL in
 * env-only mode. Valid until mpinit_session_destroy. */
MPI_Comm mpinit_comm(mpinit_session_t s);
MPI_Fint mpinit_comm_f(mpinit_session_t s);

/** Placement: the GPU's device ordinal (for cudaSetDevice / hipSetDevice; -1: none), its PCI
 * bus id and name, the NIC's name, the CPU set as ranges ("0-7,64-71"); "" where there is none. */
int mpinit_gpu(mpinit_session_t s);
const char* mpinit_gpu_busid(mpinit_session_t s);
const char* mpinit_gpu_name(mpinit_session_t s);
const char* mpinit_nic(mpinit_session_t s);
const char* mpinit_cpus(mpinit_session_t s);

/** Seeds: the global seed all ranks agreed on, this rank's, and this rank's for a stream. */
uint64_t mpinit_global_seed(mpinit_session_t s);
uint64_t mpinit_rank_seed(mpinit_session_t s);
mpinit_result_t mpinit_seed_for(mpinit_session_t s, const char* stream, uint64_t* seed);

/** The session's NCCL communicator (made on the first call: collective). It is non-blocking
 * (ncclConfig_t.blocking = 0): a later NCCL call on it may return ncclInProgress, which means
 * "accepted"; poll ncclCommGetAsyncError until it is no longer ncclInProgress before the next
 * NCCL call on it (docs/seeds-nccl.md). The session owns it: do not destroy it. */
mpinit_result_t mpinit_nccl(mpinit_session_t s, struct ncclComm** comm);

/** A constant description of a result code. */
const char* mpinit_error_string(mpinit_result_t result);
/** The message of the last failure in this thread ("" if none): names the input, the rule, the
 * rank and the host. Valid until the next mpinit call in this thread. */
const char* mpinit_last_error(void);
/** Copies mpinit_last_error() into buf (NUL-terminated, truncated to len-1); returns its full length. */
int mpinit_last_error_copy(char* buf, int len);

/** The library's version ("0.2.0"). */
const char* mpinit_version(void);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif

#endif /* MPINIT_H */
