// The C API over the Session: every entry point catches everything, and failures become a
// result code and a thread-local message.
#include "mpinit/mpinit.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstring>
#include <initializer_list>
#include <exception>
#include <new>
#include <string>

#include "core/enum_names.hpp"
#include "mpinit/mpinit.hpp"
#include "settings/rules.hpp"

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
    case mpinit::Errc::system: return MPINIT_ERR_SYSTEM;
    case mpinit::Errc::application: return MPINIT_ERR_APPLICATION;
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

// The C values of the public enums are their C++ values.
static_assert(MPINIT_MODE_ENV_ONLY == static_cast<int>(mpinit::InitMode::env_only), "mode");
static_assert(MPINIT_GPU_NONE == static_cast<int>(mpinit::GpuPolicy::none), "gpu_policy");
static_assert(MPINIT_NCCL_LAUNCH == static_cast<int>(mpinit::NcclMode::launch), "nccl");
static_assert(MPINIT_LOG_TRACE == static_cast<int>(mpinit::LogLevel::trace), "log_level");
static_assert(MPINIT_THREAD_MULTIPLE == static_cast<int>(mpinit::ThreadLevel::multiple), "thread_level");
static_assert(MPINIT_CHECK_ERROR == static_cast<int>(mpinit::CheckLevel::error), "check");
static_assert(MPINIT_NET_ALL == static_cast<int>(mpinit::NetExport::all), "export_net");
static_assert(MPINIT_PLACE_AFTER == static_cast<int>(mpinit::PlaceWhen::after), "place");
static_assert(MPINIT_ERR_APPLICATION == static_cast<int>(mpinit::Errc::application), "result codes");

// The struct of mpinit 0.1 (config version 1) ends where `magic` begins.
constexpr int kV1Size = static_cast<int>(offsetof(mpinit_config_t, magic));
constexpr int kVersionEnd = static_cast<int>(offsetof(mpinit_config_t, version) + sizeof(int));

// "" when this library can read `c`, else why not. The same on every rank of one program, so
// refusing cannot leave other ranks waiting.
std::string unreadable(const mpinit_config_t& c) {
  const std::string sizes = " (this library reads version 1 of mpinit 0.1, " + std::to_string(kV1Size) +
                            " bytes, and version " + std::to_string(MPINIT_CONFIG_VERSION) + ", " +
                            std::to_string(sizeof(mpinit_config_t)) + " bytes; start from MPINIT_CONFIG_INITIALIZER)";
  if (c.struct_size == kV1Size) return "";
  if (c.struct_size < kVersionEnd)
    return "mpinit_launch: mpinit_config_t.struct_size=" + std::to_string(c.struct_size) +
           " is not the size of any mpinit_config_t version" + sizes;
  if (c.magic != MPINIT_CONFIG_MAGIC)
    return "mpinit_launch: mpinit_config_t.magic is not MPINIT_CONFIG_MAGIC: the struct was not made from "
           "MPINIT_CONFIG_INITIALIZER" + sizes;
  if (c.version > MPINIT_CONFIG_VERSION)
    return "mpinit_launch: mpinit_config_t.version=" + std::to_string(c.version) + " is newer than this library (mpinit " +
           mpinit::version() + " reads versions 1 to " + std::to_string(MPINIT_CONFIG_VERSION) +
           "): run the program with the mpinit it was built against, or rebuild it against this one";
  if (c.version < 2 || c.struct_size != static_cast<int>(sizeof(mpinit_config_t)))
    return "mpinit_launch: mpinit_config_t.version=" + std::to_string(c.version) + " with struct_size=" +
           std::to_string(c.struct_size) + " is not a layout this library knows" + sizes;
  return "";
}

namespace rules = mpinit::detail::rules;

// One config field as a flag named after it, so that it is parsed and checked in launch()'s
// settings phase: a bad value fails every rank alike, naming the field.
struct ConfigFlags {
  mpinit::Flags& flags;
  void add(const char* var, const char* field, const std::string& value) {
    flags.push_back({var, std::string("mpinit_config_t.") + field, value});
  }
  template <class E>
  void field(const char* var, const char* name, int v, const rules::Names&, const E*) {
    constexpr int n = static_cast<int>(std::size(mpinit::detail::EnumNames<E>::items));
    if (v != MPINIT_UNSET) add(var, name, v >= 0 && v < n ? mpinit::detail::EnumNames<E>::items[v].second : std::to_string(v));
  }
  template <class Rule>
  void field(const char* var, const char* name, int v, const Rule& rule, const bool*) {
    if (v != MPINIT_UNSET) add(var, name, v == 0 || v == 1 ? rule.text(v == 1) : std::to_string(v));
  }
  void field(const char* var, const char* name, int v, const rules::Range&, const int*) {
    if (v != MPINIT_UNSET) add(var, name, std::to_string(v));
  }
  template <class Rule, class T>
  void field(const char* var, const char* name, const char* v, const Rule&, const T*) {
    if (v) add(var, name, v);
  }
};

mpinit::Options options(const mpinit_config_t* c, MPI_Comm comm) {
  using namespace mpinit;  // the table names its types as mpinit's headers do
  mpinit::Options o;
  o.comm = comm;
  if (!c) return o;
  ConfigFlags cf{o.flags};
  // Every setting of the table is a field of the struct (a missing one does not compile); an
  // older client's struct lacks the later fields, which stay unset.
#define MPINIT_SETTING_CONFIG(field_, type, def, var, rule, name, doc)                       \
  if (offsetof(mpinit_config_t, name) + sizeof(c->name) <= static_cast<size_t>(c->struct_size)) \
    cf.field(var, #name, c->name, rules::rule, static_cast<const type*>(nullptr));
  MPINIT_SETTINGS(MPINIT_SETTING_CONFIG)
#undef MPINIT_SETTING_CONFIG
  return o;
}

mpinit_result_t launch(int* argc, char*** argv, MPI_Comm comm, const mpinit_config_t* config,
                       mpinit_session_t* out) noexcept {
  if (!out) return invalid("mpinit_launch: session is NULL");
  *out = nullptr;
  if (config) {
    const std::string why = unreadable(*config);
    if (!why.empty()) return invalid(why.c_str());
  }
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

int mpinit_rank(mpinit_session_t s) { return s ? s->session.identity().rank : -1; }
int mpinit_size(mpinit_session_t s) { return s ? s->session.identity().size : -1; }
int mpinit_local_rank(mpinit_session_t s) { return s ? s->session.identity().local_rank : -1; }
int mpinit_local_size(mpinit_session_t s) { return s ? s->session.identity().local_size : -1; }
int mpinit_node_rank(mpinit_session_t s) { return s ? s->session.identity().node_rank : -1; }
int mpinit_node_count(mpinit_session_t s) { return s ? s->session.identity().node_count : -1; }
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
    case MPINIT_ERR_SYSTEM: return "system call failed";
    case MPINIT_ERR_APPLICATION: return "the application reported a failure";
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
