// What a torchrun-style program needs from its launcher: RANK, WORLD_SIZE, LOCAL_RANK, ...,
// MASTER_ADDR and MASTER_PORT, agreed over MPI (or from Slurm's node list without MPI), and a
// visible-GPU list in which set_device(LOCAL_RANK) lands on the planned GPU. `mpinit exec` uses it.
#pragma once

#include <optional>
#include <string>

#include "mpinit/env.hpp"
#include "mpinit/export.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/topology.hpp"

namespace mpinit {
inline namespace v2 {

class Session;

/// Where the ranks of a torchrun-style program meet: rank 0's address and a port.
struct Rendezvous {
  Sourced<std::string> addr{"", "unset"};
  Sourced<int> port{0, "unset"};
};

/// Throws Error(invalid_setting) naming `what` unless `addr` is an IPv4/IPv6 literal or a host
/// name (letters, digits, '-', '.', at most 253 characters): it goes into a child's environment.
MPINIT_API void validate_master_addr(const std::string& what, const std::string& addr);
/// Parses a port 1..65535, or throws Error(invalid_setting) naming `what` and the value.
MPINIT_API int parse_port(const std::string& what, const std::string& value);

/// The rendezvous, agreed by every rank of the session (collective): the explicit values, else
/// rank 0's MASTER_ADDR/MASTER_PORT environment, else rank 0's own: 127.0.0.1 when the job has
/// one node, else an address of rank 0's host that other hosts can reach (its host name's
/// address, or its first non-loopback IPv4 interface), and a TCP port rank 0 found free. In
/// env-only mode (no MPI): the explicit values, else torchrun's, else the first node of the Slurm
/// step and a port derived from the job and step ids. A failure is the same Error on every rank.
MPINIT_API Rendezvous agree_rendezvous(const Session& s, const std::optional<std::string>& addr, const std::optional<int>& port);

/// torchrun's variables for a process with identity `id`: RANK, WORLD_SIZE, LOCAL_RANK,
/// LOCAL_WORLD_SIZE, NODE_RANK, GROUP_RANK, GROUP_WORLD_SIZE, ROLE_RANK, ROLE_WORLD_SIZE,
/// ROLE_NAME, MASTER_ADDR, MASTER_PORT. Pure.
MPINIT_API EnvMap torchrun_env(const Identity& id, const Rendezvous& rv);

/// The visible-GPU variable for a program that will call set_device(LOCAL_RANK): the rank's
/// list (or every GPU of the vendor when no list is set) with the planned GPU moved to position
/// `plan.local_rank`, so that device LOCAL_RANK is the planned one. Empty when the rank has no
/// GPU. When the local rank is past the end of the list it is left as it is and `note` says
/// why set_device(LOCAL_RANK) cannot work. Pure.
MPINIT_API EnvMap visible_for_local_rank(const NodeTopology& topo, const RankPlan& plan, const EnvMap& env,
                              std::string* note = nullptr);

}  // namespace v2
}  // namespace mpinit
