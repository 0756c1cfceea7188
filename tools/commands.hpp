// The subcommands of the mpinit tool that live outside mpinit.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mpinit/settings.hpp"

namespace tool {

struct ExecArgs {
  std::vector<std::string> argv;  // the program and its arguments, untouched
  std::optional<std::string> master_addr;
  std::optional<int> master_port;
  bool env_only = false;
};
/// Launch, agree on the rendezvous, end the session (MPI finalized), set torchrun's variables
/// and become the program. Returns only on failure (the exit status).
int cmd_exec(const ExecArgs& a, const mpinit::Flags& flags);

struct CheckArgs {
  bool json = false;
  int expect_size = 0;   // 0: any
  int expect_nodes = 0;  // 0: any
};
/// Health check; 0 only when every check passed on every rank.
int cmd_check(const CheckArgs& a, const mpinit::Flags& flags);

/// Write `xml_in` (a topology file, or "" for this machine) with the plan of `ranks` local ranks
/// as Misc objects, so lstopo draws which rank sits where.
int annotate_plan(const std::string& xml_in, const std::string& cpus, int ranks, const std::string& policy,
                  const std::string& visible, const std::string& out);

}  // namespace tool
