// mpinit exec: run a torchrun-style program under mpirun or srun.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"

namespace tool {
namespace {

// The program execv will run: argv0 itself if it has a '/', else the first executable in PATH.
// Returns "" when found (path in *out), else why not.
std::string find_program(const std::string& argv0, std::string* out) {
  if (argv0.empty()) return "no program given (mpinit exec -- PROGRAM [ARGS...])";
  if (argv0.find('/') != std::string::npos) {
    if (access(argv0.c_str(), X_OK) == 0) return *out = argv0, "";
    return "the program '" + argv0 + "' cannot be run: " + std::strerror(errno);
  }
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    std::string cand = (dir.empty() ? "." : dir) + "/" + argv0;
    if (access(cand.c_str(), X_OK) == 0) return *out = cand, "";
    start = end + 1;
  }
  return "the program '" + argv0 + "' is not in PATH";
}

}  // namespace

int cmd_exec(const ExecArgs& a, const mpinit::Flags& flags) {
  std::string program;
  mpinit::EnvMap out;
  try {
    mpinit::Options opts;
    opts.flags = flags;
    if (a.env_only) opts.mode = mpinit::InitMode::env_only;
    auto s = mpinit::launch(opts);
    s.agree("exec", find_program(a.argv.empty() ? "" : a.argv[0], &program), mpinit::Errc::invalid_setting);
    mpinit::Rendezvous rv = mpinit::agree_rendezvous(s, a.master_addr, a.master_port);
    out = mpinit::torchrun_env(s.identity(), rv);
    if (s.plan()) {
      std::string note;
      for (auto& kv : mpinit::visible_for_local_rank(*s.topology(), *s.plan(), mpinit::process_env(), &note))
        out.insert(kv);
      if (!note.empty()) s.logger().warn("mpinit exec: " + note);
    }
    out["MPINIT_SEED"] = std::to_string(s.global_seed().value);
    out["MPINIT_RANK_SEED"] = std::to_string(s.rank_seed());
    s.logger().info("mpinit exec: MASTER_ADDR=" + rv.addr.value + " (" + rv.addr.source + "), MASTER_PORT=" +
                    std::to_string(rv.port.value) + " (" + rv.port.source + "), running " + program);
  } catch (const mpinit::Error& e) {  // the session has ended: MPI is finalized on every rank
    std::cerr << "mpinit exec: " << e.what() << std::endl;
    return 1;
  }
  // The session has ended (MPI finalized, communicators freed); the binding stays with the process.
  for (const auto& [k, v] : out) setenv(k.c_str(), v.c_str(), 1);
  std::vector<char*> argv;
  for (const auto& w : a.argv) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  execv(program.c_str(), argv.data());  // never a shell: the arguments reach the program as given
  std::cerr << "mpinit exec: execv(" << program << ") failed: " << std::strerror(errno) << std::endl;
  return 127;
}

}  // namespace tool
