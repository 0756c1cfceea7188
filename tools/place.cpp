// mpinit place: place an existing program (an MPI one: C, Fortran, an mpi4py script) the way
// launch() places a process, then become it. No MPI is initialized here, so the program's own
// MPI_Init starts it placed, as it would under a launcher-level binder (mpibind, srun --cpu-bind).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"
#include "program.hpp"

namespace tool {

int cmd_place(const std::vector<std::string>& argv, const mpinit::Flags& flags) {
  std::string program;
  if (std::string why = find_program(argv.empty() ? "" : argv[0], &program); !why.empty()) {
    std::cerr << "mpinit place: " << why << std::endl;
    return 127;
  }
  try {
    mpinit::Options opts;
    opts.flags = flags;
    opts.mode = mpinit::InitMode::env_only;  // the program initializes MPI, placed
    opts.seed = mpinit::SeedSetting{};       // seeds are the program's business, not this wrapper's
    opts.nccl = mpinit::NcclMode::off;
    auto s = mpinit::launch(opts);
    if (const mpinit::RankPlan* p = s.plan())
      s.logger().info("mpinit place: " + p->reason + "; " + s.applied() + "; running " + program);
    else
      s.logger().info("mpinit place: no placement (" + s.settings().placement.source + "); running " + program);
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit place: " << e.what() << std::endl;
    return 1;
  }
  // The binding, the GPU choice and the network variables stay with the process through execv.
  std::vector<char*> args;
  for (const auto& w : argv) args.push_back(const_cast<char*>(w.c_str()));
  args.push_back(nullptr);
  execv(program.c_str(), args.data());  // never a shell: the arguments reach the program as given
  std::cerr << "mpinit place: execv(" << program << ") failed: " << std::strerror(errno) << std::endl;
  return 127;
}

}  // namespace tool
