// mpinit._mpinit: the Python binding over the public C++ API (include/mpinit/*.hpp) only.
// mpinit/__init__.py is the user-facing layer; this module is small and plain: it launches a
// Session, reads it into Python values and translates mpinit::Error into mpinit.Error.
#include <mpi.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "mpinit/mpinit.hpp"

namespace py = pybind11;

namespace {

// mpinit.Error, set by __init__.py (the class lives in Python so that it can be documented,
// pickled and subclassed there).
py::object& error_class() {
  static py::object* cls = new py::object();  // never destroyed: outlives the interpreter's teardown
  return *cls;
}

[[noreturn]] void raise_error(const mpinit::Error& e) {
  py::object cls = error_class();
  if (!cls) throw std::runtime_error(e.what());
  py::object err = cls(e.what(), mpinit::to_string(e.code()), e.phase(), e.failed_ranks(), e.failed_count());
  PyErr_SetObject(cls.ptr(), err.ptr());
  throw py::error_already_set();
}

// A Session that close() can end before Python forgets the object.
struct PySession {
  std::unique_ptr<mpinit::Session> s;

  mpinit::Session& get() {
    if (!s) raise_error(mpinit::Error(mpinit::Errc::invalid_setting, "this mpinit session is closed"));
    return *s;
  }
  void close() {
    py::gil_scoped_release nogil;
    s.reset();  // frees the session's communicators; MPI_Finalize if the session initialized MPI
  }
};

using FlagTuple = std::tuple<std::string, std::string, std::string>;

// launch(flags, comm_f, argv) -> (session, argv without the --mpinit-* flags)
std::pair<std::unique_ptr<PySession>, std::vector<std::string>> launch(const std::vector<FlagTuple>& flags,
                                                                      std::optional<long long> comm_f,
                                                                      std::vector<std::string> args) {
  mpinit::Options opts;
  for (const auto& [var, spelling, value] : flags) opts.flags.push_back({var, spelling, value});
  if (comm_f) opts.comm = MPI_Comm_f2c(static_cast<MPI_Fint>(*comm_f));
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  char** argvp = argv.data();
  auto out = std::make_unique<PySession>();
  try {
    py::gil_scoped_release nogil;  // collectives may wait for other ranks
    out->s = std::make_unique<mpinit::Session>(mpinit::launch(&argc, &argvp, opts));
  } catch (const mpinit::Error& e) {
    raise_error(e);
  }
  std::vector<std::string> rest;
  for (int i = 0; i < argc && argvp[i]; ++i) rest.emplace_back(argvp[i]);
  return {std::move(out), rest};
}

py::dict sources(const mpinit::Sources& s) {
  py::dict d;
  d["rank"] = s.rank;
  d["size"] = s.size;
  d["local_rank"] = s.local_rank;
  d["local_size"] = s.local_size;
  d["node_rank"] = s.node_rank;
  d["node_count"] = s.node_count;
  return d;
}

py::dict identity(PySession& ps) {
  const auto& id = ps.get().identity();
  py::dict d;
  d["rank"] = id.rank;
  d["size"] = id.size;
  d["local_rank"] = id.local_rank;
  d["local_size"] = id.local_size;
  d["node_rank"] = id.node_rank;
  d["node_count"] = id.node_count;
  d["host"] = id.host;
  d["launcher"] = std::string(mpinit::to_string(id.launcher));
  d["from_mpi"] = id.from_mpi;
  d["sources"] = sources(id.sources);
  return d;
}

// This rank's plan, named as `mpinit info --json` names it; None without one.
py::object plan(PySession& ps) {
  auto& s = ps.get();
  const mpinit::RankPlan* p = s.plan();
  const mpinit::NodeTopology* t = s.topology();
  if (!p || !t) return py::none();
  py::dict d;
  py::list gpus;
  for (size_t i = 0; i < p->gpus.size(); ++i) {
    const auto& g = t->gpus[p->gpus[i]];
    py::dict gd;
    gd["name"] = g.name;
    gd["busid"] = g.loc.busid;
    gd["ordinal"] = i < p->ordinals.size() ? p->ordinals[i] : -1;
    gd["physical"] = g.physical;
    gpus.append(gd);
  }
  d["local_rank"] = p->local_rank;
  d["gpus"] = gpus;
  d["gpu"] = p->gpus.empty() ? py::object(py::none()) : py::str(t->gpus[p->gpus[0]].name);
  d["gpu_busid"] = p->gpus.empty() ? py::object(py::none()) : py::str(t->gpus[p->gpus[0]].loc.busid);
  d["gpu_ordinal"] = p->ordinals.empty() ? py::object(py::none()) : py::int_(p->ordinals[0]);
  d["nic"] = p->nic < 0 ? py::object(py::none()) : py::str(t->nics[p->nic].name);
  d["cpus"] = mpinit::format_cpus(p->cpus);
  d["numa"] = p->numa;
  d["reason"] = p->reason;
  d["applied"] = s.applied();
  d["topology"] = t->origin;
  d["discovered_here"] = s.discovered_topology();
  return d;
}

// The Fortran handle of the session's communicator (for mpi4py's Comm.f2py); None without MPI.
py::object comm_f(PySession& ps) {
  MPI_Comm c = ps.get().comm();
  if (c == MPI_COMM_NULL) return py::none();
  return py::int_(static_cast<long long>(MPI_Comm_c2f(c)));
}

// torchrun's variables, the rendezvous agreed over the session's communicator (collective).
py::dict torchrun_env(PySession& ps, std::optional<std::string> addr, std::optional<int> port) {
  auto& s = ps.get();
  mpinit::EnvMap env;
  try {
    py::gil_scoped_release nogil;
    env = mpinit::torchrun_env(s.identity(), mpinit::agree_rendezvous(s, addr, port));
  } catch (const mpinit::Error& e) {
    raise_error(e);
  }
  py::dict d;
  for (const auto& [k, v] : env) d[py::str(k)] = v;
  return d;
}

void agree(PySession& ps, const std::string& phase, const std::string& cause, const std::string& code) {
  auto& s = ps.get();
  mpinit::Errc c = mpinit::Errc::application;
  if (!code.empty() && !mpinit::from_string(code, c))
    raise_error(mpinit::Error(mpinit::Errc::invalid_setting, "agree(): '" + code + "' is not an mpinit error code"));
  try {
    py::gil_scoped_release nogil;
    s.agree(phase, cause, c);
  } catch (const mpinit::Error& e) {
    raise_error(e);
  }
}

}  // namespace

PYBIND11_MODULE(_mpinit, m) {
  m.doc() = "mpinit's C++ library, bound for Python (use the mpinit package, not this module)";
  m.def("_set_error_class", [](py::object cls) { error_class() = std::move(cls); });
  m.def("version", [] { return std::string(mpinit::version()); });
  m.def("mpi_library_version", [] {
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);  // callable before MPI_Init
    return std::string(v, len);
  });
  m.def("mpi_state", [] {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    return std::make_pair(bool(init), bool(fin));
  });
  m.def("setting_table", [] {
    py::list rows;
    for (const auto& r : mpinit::setting_table()) {
      py::dict d;
      d["name"] = r.name;
      d["variable"] = r.variable;
      d["flag"] = r.flag;
      d["allowed"] = r.allowed;
      d["default"] = r.default_value;
      d["doc"] = r.doc;
      rows.append(d);
    }
    return rows;
  });
  m.def("derive_seed", [](std::uint64_t global, int rank, const std::string& stream) {
    return mpinit::derive_seed(global, rank, stream);
  });
  m.def("launch", &launch, py::arg("flags"), py::arg("comm_f"), py::arg("argv"));

  py::class_<PySession>(m, "_Session")
      .def("identity", &identity)
      .def("plan", &plan)
      .def("comm_f", &comm_f)
      .def("owns_mpi", [](PySession& ps) { return ps.get().owns_mpi(); })
      .def("thread_level", [](PySession& ps) { return std::string(mpinit::to_string(ps.get().thread_level())); })
      .def("global_seed",
           [](PySession& ps) {
             const auto& g = ps.get().global_seed();
             return std::make_pair(g.value, g.source);
           })
      .def("rank_seed", [](PySession& ps) { return ps.get().rank_seed(); })
      .def("seed_for", [](PySession& ps, const std::string& name) { return ps.get().seed_for(name); })
      .def("settings",
           [](PySession& ps) {
             py::dict d;
             for (const auto& row : mpinit::describe(ps.get().settings()))
               d[py::str(row.name)] = std::make_pair(row.value, row.source);
             return d;
           })
      .def("timings",
           [](PySession& ps) {
             py::dict d;
             for (const auto& t : ps.get().timings()) d[py::str(t.phase)] = t.seconds;
             return d;
           })
      .def("warnings", [](PySession& ps) { return ps.get().settings().warnings; })
      .def("torchrun_env", &torchrun_env, py::arg("addr"), py::arg("port"))
      .def("agree", &agree, py::arg("phase"), py::arg("cause"), py::arg("code") = "application")
      .def("abort",
           [](PySession& ps, int status) {
             // Ends the whole job: a rank that dies alone must not leave the others in a collective.
             MPI_Comm c = ps.s ? ps.s->comm() : MPI_COMM_NULL;
             int init = 0, fin = 0;
             MPI_Initialized(&init);
             MPI_Finalized(&fin);
             if (init && !fin) MPI_Abort(c == MPI_COMM_NULL ? MPI_COMM_WORLD : c, status);
           })
      .def("closed", [](PySession& ps) { return !ps.s; })
      .def("close", &PySession::close);
}
