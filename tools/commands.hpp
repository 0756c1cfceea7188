// The subcommands of the mpinit tool that live outside mpinit.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mpinit/enums.hpp"
#include "mpinit/error.hpp"
#include "mpinit/settings.hpp"

namespace tool {

/// --policy of plan: a GPU policy by name, or Error(invalid_setting) naming the flag and the names.
inline mpinit::GpuPolicy parse_policy(const std::string& name) {
  if (auto p = mpinit::parse_enum<mpinit::GpuPolicy>(name)) return *p;
  std::string names;
  for (const auto& row : mpinit::setting_table())
    if (row.name == "gpu_policy") names = row.allowed;
  throw mpinit::Error(mpinit::Errc::invalid_setting, "--policy='" + name + "' is not one of " + names);
}

struct ExecArgs {
  std::vector<std::string> argv;  // the program and its arguments, untouched
  std::optional<std::string> master_addr;
  std::optional<int> master_port;
  bool env_only = false;
};
/// Launch, agree on the rendezvous, end the session (MPI finalized), set torchrun's variables
/// and become the program. Returns only on failure (the exit status).
int cmd_exec(const ExecArgs& a, const mpinit::Flags& flags);

/// Place the process (env-only launch: the node's one discovery, plan, binding, GPU, MPI's network
/// variables; no MPI), then become the program. Returns only on failure (the exit status).
int cmd_place(const std::vector<std::string>& argv, const mpinit::Flags& flags);

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
