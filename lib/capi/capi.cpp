// The C API over the Session: every entry point catches everything, and failures become a
// result code and a thread-local message.
#include "mpinit/mpinit.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <exception>
#include <new>
#include <string>

#include "mpinit/mpinit.hpp"
#include "mpinit/seed.hpp"

struct mpinit_session_s {
  mpinit::Session session;
  std::string cpus;
};

namespace {

thread_local std::string last_error;

mpinit_result_t to_result(mpinit::Errc c) {
  switch (c) {
    case mpinit::Errc::invalid_environment: return MPINIT_ERR_INVALID_ENVIRONMENT;
    case mpinit::Errc::invalid_setting: return MPINIT_ERR_INVALID_SETTING;
    case mpinit::Errc::mpi: return MPINIT_ERR_MPI;
    case mpinit::Errc::mismatch: return MPINIT_ERR_MISMATCH;
    case mpinit::Errc::not_built: return MPINIT_ERR_NOT_BUILT;
    case mpinit::Errc::nccl: return MPINIT_ERR_NCCL;
    case mpinit::Errc::internal: return MPINIT_ERR_INTERNAL;
  }
  return MPINIT_ERR_INTERNAL;
}

template <class F>
mpinit_result_t guarded(F&& f) noexcept {
  try {
    last_error.clear();
    f();
    return MPINIT_SUCCESS;
  } catch (const mpinit::Error& e) {
    last_error = e.what();
    return to_result(e.code());
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
    return MPINIT_ERR_INTERNAL;
  } catch (const std::exception& e) {
    last_error = e.what();
    return MPINIT_ERR_INTERNAL;
  } catch (...) {
    last_error = "unknown exception";
    return MPINIT_ERR_INTERNAL;
  }
}

mpinit_result_t invalid(const char* what) noexcept {
  last_error = what;
  return MPINIT_ERR_INVALID_ARGUMENT;
}

// The config's fields become flags named after them, so that they are parsed and checked in
// launch()'s settings phase: a bad value fails every rank alike, naming the field.
mpinit::Options options(const mpinit_config_t* c, MPI_Comm comm) {
  mpinit::Options o;
  o.comm = comm;
  if (!c) return o;
  auto add = [&](const char* var, const char* field, const std::string& value) {
    o.flags.push_back({var, std::string("mpinit_config_t.") + field, value});
  };
  auto named = [&](const char* var, const char* field, int v, std::initializer_list<const char*> names) {
    if (v == MPINIT_UNSET) return;
    add(var, field, v >= 0 && v < static_cast<int>(names.size()) ? names.begin()[v] : std::to_string(v));
  };
  named("MPINIT_MODE", "mode", c->mode, {"own", "adopt", "own_if_needed", "env_only"});
  named("MPINIT_PLACEMENT", "placement", c->placement, {"off", "on"});
  named("MPINIT_BIND", "bind", c->bind, {"off", "on"});
  named("MPINIT_GPU_POLICY", "gpu_policy", c->gpu_policy, {"spread", "exclusive", "split", "none"});
  named("MPINIT_LOG_LEVEL", "log_level", c->log_level, {"none", "error", "warn", "info", "debug", "trace"});
  named("MPINIT_NCCL", "nccl", c->nccl, {"off", "lazy", "launch"});
  if (c->nccl_timeout_s != MPINIT_UNSET) add("MPINIT_NCCL_TIMEOUT", "nccl_timeout_s", std::to_string(c->nccl_timeout_s));
  if (c->seed) add("MPINIT_SEED", "seed", c->seed);
  if (c->topology) add("MPINIT_TOPOLOGY", "topology", c->topology);
  return o;
}

mpinit_result_t launch(int* argc, char*** argv, MPI_Comm comm, const mpinit_config_t* config,
                       mpinit_session_t* out) noexcept {
  if (!out) return invalid("mpinit_launch: session is NULL");
  *out = nullptr;
  // The same on every rank of one program, so returning here cannot leave other ranks waiting.
  if (config && config->struct_size != static_cast<int>(sizeof(mpinit_config_t)))
    return invalid("mpinit_launch: mpinit_config_t.struct_size is not sizeof(mpinit_config_t) (start from "
                   "MPINIT_CONFIG_INITIALIZER)");
  return guarded([&] {
    mpinit::Options o = options(config, comm);
    *out = new mpinit_session_s{mpinit::launch(argc, argv, o), {}};
    if (const mpinit::RankPlan* p = (*out)->session.plan()) (*out)->cpus = mpinit::format_cpus(p->cpus);
  });
}

const mpinit::Gpu* gpu_of(mpinit_session_t s) {
  if (!s || !s->session.plan() || s->session.plan()->gpus.empty()) return nullptr;
  return &s->session.topology()->gpus[s->session.plan()->gpus[0]];
}

}  // namespace

extern "C" {

mpinit_result_t mpinit_launch(int* argc, char*** argv, MPI_Comm comm, const mpinit_config_t* config,
                              mpinit_session_t* session) {
  return launch(argc, argv, comm, config, session);
}

mpinit_result_t mpinit_launch_f(MPI_Fint comm, const mpinit_config_t* config, mpinit_session_t* session) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    if (session) *session = nullptr;
    last_error = "mpinit_launch_f: MPI is not initialized (call MPI_Init first; a Fortran handle needs it)";
    return MPINIT_ERR_MPI;
  }
  return launch(nullptr, nullptr, MPI_Comm_f2c(comm), config, session);
}

void mpinit_session_destroy(mpinit_session_t s) { delete s; }  // ~Session never throws

int mpinit_rank(mpinit_session_t s) { return s ? s->session.identity().rank.value : -1; }
int mpinit_size(mpinit_session_t s) { return s ? s->session.identity().size.value : -1; }
int mpinit_local_rank(mpinit_session_t s) { return s ? s->session.identity().local_rank.value : -1; }
int mpinit_local_size(mpinit_session_t s) { return s ? s->session.identity().local_size.value : -1; }
int mpinit_node_rank(mpinit_session_t s) { return s ? s->session.identity().node_rank.value : -1; }
int mpinit_node_count(mpinit_session_t s) { return s ? s->session.identity().node_count.value : -1; }
const char* mpinit_host(mpinit_session_t s) { return s ? s->session.identity().host.c_str() : ""; }
MPI_Comm mpinit_comm(mpinit_session_t s) { return s ? s->session.comm() : MPI_COMM_NULL; }
MPI_Fint mpinit_comm_f(mpinit_session_t s) { return MPI_Comm_c2f(mpinit_comm(s)); }

int mpinit_gpu(mpinit_session_t s) {
  return gpu_of(s) && !s->session.plan()->ordinals.empty() ? s->session.plan()->ordinals[0] : -1;
}
const char* mpinit_gpu_busid(mpinit_session_t s) { return gpu_of(s) ? gpu_of(s)->loc.busid.c_str() : ""; }
const char* mpinit_gpu_name(mpinit_session_t s) { return gpu_of(s) ? gpu_of(s)->name.c_str() : ""; }
const char* mpinit_nic(mpinit_session_t s) {
  if (!s || !s->session.plan() || s->session.plan()->nic < 0) return "";
  return s->session.topology()->nics[s->session.plan()->nic].name.c_str();
}
const char* mpinit_cpus(mpinit_session_t s) { return s ? s->cpus.c_str() : ""; }

uint64_t mpinit_global_seed(mpinit_session_t s) { return s ? s->session.global_seed().value : 0; }
uint64_t mpinit_rank_seed(mpinit_session_t s) { return s ? s->session.rank_seed() : 0; }
mpinit_result_t mpinit_seed_for(mpinit_session_t s, const char* stream, uint64_t* seed) {
  if (!s || !stream || !seed) return invalid("mpinit_seed_for: session, stream and seed must not be NULL");
  return guarded([&] { *seed = s->session.seed_for(stream); });
}

mpinit_result_t mpinit_nccl(mpinit_session_t s, struct ncclComm** comm) {
  if (!s || !comm) return invalid("mpinit_nccl: session and comm must not be NULL");
  *comm = nullptr;
  return guarded([&] { *comm = s->session.nccl().get(); });
}

const char* mpinit_error_string(mpinit_result_t r) {
  switch (r) {
    case MPINIT_SUCCESS: return "success";
    case MPINIT_ERR_INVALID_ENVIRONMENT: return "invalid launcher environment";
    case MPINIT_ERR_INVALID_SETTING: return "invalid setting";
    case MPINIT_ERR_MPI: return "MPI error";
    case MPINIT_ERR_MISMATCH: return "MPI and the launcher environment disagree";
    case MPINIT_ERR_NOT_BUILT: return "feature not built in";
    case MPINIT_ERR_NCCL: return "NCCL error";
    case MPINIT_ERR_INTERNAL: return "internal error";
    case MPINIT_ERR_INVALID_ARGUMENT: return "invalid argument";
  }
  return "unknown result code";
}

const char* mpinit_last_error(void) { return last_error.c_str(); }

int mpinit_last_error_copy(char* buf, int len) {
  if (buf && len > 0) {
    size_t n = std::min(last_error.size(), static_cast<size_t>(len - 1));
    std::memcpy(buf, last_error.data(), n);
    buf[n] = '\0';
  }
  return static_cast<int>(last_error.size());
}

const char* mpinit_version(void) { return mpinit::version(); }

}  // extern "C"
