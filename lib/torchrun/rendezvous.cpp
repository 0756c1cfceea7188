// torchrun's variables, the rendezvous address and port, and the visible-GPU order for exec.
#include "mpinit/rendezvous.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/session.hpp"
#include "agree/agree.hpp"
#include "mpi/world.hpp"

namespace mpinit {
inline namespace v2 {

void validate_master_addr(const std::string& what, const std::string& addr) {
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1) return;
  bool ok = !addr.empty() && addr.size() <= 253 && addr.front() != '-' && addr.front() != '.';
  for (char c : addr) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.');
  if (!ok)
    throw Error(Errc::invalid_setting, what + "='" + addr +
                                           "' is not an address (an IPv4 or IPv6 literal, or a host name of letters, "
                                           "digits, '-' and '.', at most 253 characters)");
}

int parse_port(const std::string& what, const std::string& value) {
  const bool digits = !value.empty() && value.size() <= 5 && value.find_first_not_of("0123456789") == std::string::npos;
  const long v = digits ? std::strtol(value.c_str(), nullptr, 10) : 0;
  if (v < 1 || v > 65535)
    throw Error(Errc::invalid_setting, what + "='" + value + "' is not a TCP port (an integer from 1 to 65535)");
  return static_cast<int>(v);
}

EnvMap torchrun_env(const Identity& id, const Rendezvous& rv) {
  auto s = [](int v) { return std::to_string(v); };
  return {{"RANK", s(id.rank)},
          {"WORLD_SIZE", s(id.size)},
          {"LOCAL_RANK", s(id.local_rank)},
          {"LOCAL_WORLD_SIZE", s(id.local_size)},
          {"NODE_RANK", s(id.node_rank)},
          {"GROUP_RANK", s(id.node_rank)},
          {"GROUP_WORLD_SIZE", s(id.node_count)},
          {"ROLE_RANK", s(id.rank)},
          {"ROLE_WORLD_SIZE", s(id.size)},
          {"ROLE_NAME", "default"},
          {"MASTER_ADDR", rv.addr.value},
          {"MASTER_PORT", s(rv.port.value)}};
}

EnvMap visible_for_local_rank(const NodeTopology& topo, const RankPlan& plan, const EnvMap& env, std::string* note) {
  if (plan.gpus.empty() || plan.ordinals.empty()) return {};
  const Gpu& g = topo.gpus[plan.gpus[0]];
  std::string var = "CUDA_VISIBLE_DEVICES";
  if (g.vendor == "amd") var = env.count("ROCR_VISIBLE_DEVICES") || !env.count("HIP_VISIBLE_DEVICES")
                                   ? "ROCR_VISIBLE_DEVICES"
                                   : "HIP_VISIBLE_DEVICES";
  std::vector<std::string> tokens;
  auto it = env.find(var);
  if (it != env.end()) {
    std::string item;
    for (size_t i = 0; i <= it->second.size(); ++i) {
      if (i == it->second.size() || it->second[i] == ',') {
        tokens.push_back(item);
        item.clear();
      } else {
        item += it->second[i];
      }
    }
  } else {
    std::vector<int> physical;
    for (const auto& x : topo.gpus)
      if (x.vendor == g.vendor && x.physical >= 0) physical.push_back(x.physical);
    std::sort(physical.begin(), physical.end());
    physical.erase(std::unique(physical.begin(), physical.end()), physical.end());
    for (int p : physical) tokens.push_back(std::to_string(p));
  }
  // The planned device's place in the list: its ordinal in a visible list; without one, where
  // its physical index stands (indices need not run 0..n-1, e.g. in a topology file).
  int ordinal = plan.ordinals[0];
  if (it == env.end())
    ordinal = static_cast<int>(std::find(tokens.begin(), tokens.end(), std::to_string(ordinal)) - tokens.begin());
  if (ordinal < 0 || ordinal >= static_cast<int>(tokens.size())) return {};
  if (plan.local_rank >= static_cast<int>(tokens.size())) {
    if (note)
      *note = "local rank " + std::to_string(plan.local_rank) + " is past the " + std::to_string(tokens.size()) +
              " visible GPU(s), so set_device(LOCAL_RANK) cannot work; the planned GPU is device " +
              std::to_string(ordinal) + " (" + g.name + ")";
    return {};
  }
  std::swap(tokens[ordinal], tokens[plan.local_rank]);
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : ",") + t;
  return {{var, out}};
}

namespace {

bool loopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr) >> 24) == 127;
  return false;
}

std::string ntop(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  return buf;
}

// An IPv4 address of this host that other hosts can reach: the host name's, else the first
// up, non-loopback interface that is not a container or VM bridge.
Sourced<std::string> reachable_address(const std::string& host) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
    for (addrinfo* a = res; a; a = a->ai_next)
      if (!loopback(a->ai_addr)) {
        std::string ip = ntop(a->ai_addr);
        freeaddrinfo(res);
        return {ip, "address of " + host};
      }
    freeaddrinfo(res);
  }
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) || loopback(i->ifa_addr))
        continue;
      std::string name = i->ifa_name;
      if (name.rfind("docker", 0) == 0 || name.rfind("virbr", 0) == 0 || name.rfind("veth", 0) == 0 ||
          name.rfind("br-", 0) == 0)
        continue;
      std::string ip = ntop(i->ifa_addr);
      freeifaddrs(ifs);
      return {ip, "interface " + name + " of " + host};
    }
    freeifaddrs(ifs);
  }
  throw Error(Errc::invalid_environment, "no address of " + host +
                                             " that other nodes can reach (its name does not resolve and it has no "
                                             "non-loopback IPv4 interface); give --master-addr");
}

// A TCP port free on this host now (the kernel picks it; the socket is closed at once).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(Errc::system, std::string("socket() for a free port failed: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof a;
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc == 0) rc = getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int err = errno;
  close(fd);
  if (rc != 0) throw Error(Errc::system, std::string("finding a free TCP port failed: ") + std::strerror(err));
  return ntohs(a.sin_port);
}

// Rank 0's choice, before agreement.
Rendezvous choose(const Session& s, const std::optional<std::string>& addr, const std::optional<int>& port,
                  const EnvMap& env) {
  Rendezvous rv;
  const Identity& id = s.identity();
  auto from_env = [&](const char* var) -> const std::string* {
    auto it = env.find(var);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (addr) {
    validate_master_addr("--master-addr", *addr);
    rv.addr = {*addr, "--master-addr"};
  } else if (const std::string* v = from_env("MASTER_ADDR")) {
    validate_master_addr("MASTER_ADDR", *v);
    rv.addr = {*v, "MASTER_ADDR"};
  } else if (id.from_mpi) {
    rv.addr = id.node_count == 1 ? Sourced<std::string>{"127.0.0.1", "one node: loopback"}
                                        : reachable_address(id.host);
  } else if (!s.launch_env().nodes.empty()) {
    rv.addr = {s.launch_env().nodes.front(), "first node of the Slurm step"};
  } else {
    throw Error(Errc::invalid_setting,
                "no MASTER_ADDR: without MPI it comes from --master-addr, MASTER_ADDR or Slurm's node list");
  }
  if (port) {
    if (*port < 1 || *port > 65535) parse_port("--master-port", std::to_string(*port));
    rv.port = {*port, "--master-port"};
  } else if (const std::string* v = from_env("MASTER_PORT")) {
    rv.port = {parse_port("MASTER_PORT", *v), "MASTER_PORT"};
  } else if (id.from_mpi) {
    rv.port = {free_port(), "free on rank 0"};
  } else if (const std::string* job = from_env("SLURM_JOB_ID")) {
    const std::string* step = from_env("SLURM_STEP_ID");
    unsigned long long j = std::strtoull(job->c_str(), nullptr, 10), k = step ? std::strtoull(step->c_str(), nullptr, 10) : 0;
    rv.port = {static_cast<int>(20000 + (j * 64 + k) % 20000), "derived from SLURM_JOB_ID and SLURM_STEP_ID"};
  } else {
    throw Error(Errc::invalid_setting,
                "no MASTER_PORT: without MPI it comes from --master-port, MASTER_PORT or the Slurm job id");
  }
  return rv;
}

}  // namespace

Rendezvous agree_rendezvous(const Session& s, const std::optional<std::string>& addr, const std::optional<int>& port) {
  const EnvMap env = process_env();
  const Identity& id = s.identity();
  if (!id.from_mpi) return choose(s, addr, port, env);  // every process decides alike from the same inputs

  detail::PhaseStatus st;
  Rendezvous rv;
  if (id.rank == 0) {
    try {
      rv = choose(s, addr, port, env);
    } catch (const Error& e) {
      st = {true, e.code(), "rendezvous", e.what()};
    }
  }
  detail::agree(s.comm(), st, id.host);
  std::string text = rv.addr.value + '\n' + rv.addr.source + '\n' + std::to_string(rv.port.value) + '\n' +
                     rv.port.source;
  int len = static_cast<int>(text.size());
  detail::check_mpi(MPI_Bcast(&len, 1, MPI_INT, 0, s.comm()), "MPI_Bcast(rendezvous)");
  text.resize(len);
  detail::check_mpi(MPI_Bcast(text.data(), len, MPI_CHAR, 0, s.comm()), "MPI_Bcast(rendezvous)");
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == '\n') parts.push_back(text.substr(start, i - start)), start = i + 1;
  rv.addr = {parts.at(0), parts.at(1)};
  rv.port = {std::atoi(parts.at(2).c_str()), parts.at(3)};
  return rv;
}

}  // namespace v2
}  // namespace mpinit
