// mpinit exec: run a torchrun-style program under mpirun or srun.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"
#include "program.hpp"

namespace tool {
int cmd_exec(const ExecArgs& a, const mpinit::Flags& flags) {
  std::string program;
  mpinit::EnvMap out;
  try {
    mpinit::Options opts;
    opts.flags = flags;
    if (a.env_only) opts.mode = mpinit::InitMode::env_only;
    auto s = mpinit::launch(opts);
    std::string why = find_program(a.argv.empty() ? "" : a.argv[0], &program);
    if (why.empty())
      if (const std::string lib = mpi_library_needed(program); !lib.empty())
        why = "the program '" + program + "' is an MPI program (it needs " + lib +
              "): mpinit exec ends MPI before it starts the program, which then cannot start MPI again; "
              "start it with `mpinit place -- PROGRAM` (placed before its own MPI_Init), or under mpirun alone";
    s.agree("exec", why, mpinit::Errc::invalid_setting);
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
