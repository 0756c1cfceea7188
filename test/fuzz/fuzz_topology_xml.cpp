// Fuzz target: hwloc XML topologies (mutated from ../shared/topologies/hwloc) through the hwloc
// import (from a buffer, as a rank imports its leader's export, or as a file restricted to some
// CPUs), the inventory, and the planner. Input: an optional first line
// "#mpinit ranks=N policy=P cpus=LIST visible=LIST" (all optional), then the XML. The inventory
// is well formed (cores with distinct PUs, devices inside the topology) and every plan obeys
// check_plan; an unreadable topology or an impossible request is an mpinit::Error.
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>

#include "topo.hpp"
#include "hw/topology.hpp"

using namespace mpinit;

namespace {

// hwloc loads its plugins (the libxml2 reader among them) while a topology exists and unloads
// them with the last one. One topology held for the whole run keeps them loaded, so libxml2's
// caches stay reachable rather than look leaked, and no input pays for loading them again.
const hwloc_topology_t kKeepPlugins = [] {
  hwloc_topology_t t = nullptr;
  hwloc_topology_init(&t);
  return t;
}();

struct Header {
  int ranks = 4;
  GpuPolicy policy = GpuPolicy::spread;
  std::string cpus, visible;
  bool has_visible = false;
};

// Splits off the header line; unknown or malformed fields are ignored (the fuzzer mutates them).
Header header(std::string& xml) {
  Header h;
  if (xml.rfind("#mpinit", 0) != 0) return h;
  size_t nl = xml.find('\n');
  std::istringstream fields(xml.substr(0, nl));
  xml.erase(0, nl == std::string::npos ? xml.size() : nl + 1);
  for (std::string f; fields >> f;) {
    size_t eq = f.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = f.substr(0, eq), v = f.substr(eq + 1);
    if (k == "ranks" && !v.empty() && v.size() < 4 && v.find_first_not_of("0123456789") == std::string::npos)
      h.ranks = std::max(1, std::stoi(v));
    if (k == "policy")
      for (auto p : {GpuPolicy::spread, GpuPolicy::exclusive, GpuPolicy::split, GpuPolicy::none})
        if (v == to_string(p)) h.policy = p;
    if (k == "cpus") h.cpus = v;
    if (k == "visible") h.visible = v, h.has_visible = true;
  }
  return h;
}

// An anonymous memory file holding `xml`, for load_topology, which reads a file.
struct MemFile {
  int fd;
  explicit MemFile(const std::string& xml) : fd(memfd_create("fuzz-topology", 0)) {
    FUZZ_CHECK(fd >= 0 && write(fd, xml.data(), xml.size()) == static_cast<ssize_t>(xml.size()), "memfd");
  }
  ~MemFile() { close(fd); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
};

// hwloc 2.9 itself crashes on some malformed XML (a NULL cpuset in its import; fixed upstream,
// e.g. hwloc pull requests 783 and 800), or reads past a string (which ASan reports). That is
// hwloc's bug, which mpinit cannot catch, and it would end every run: load the input with hwloc
// alone in a helper process first, the way lib/topo does, and skip it when the helper dies.
//
// The helper is long-lived (a fork server): this binary started again (posix_spawn of
// /proc/self/exe, cheap even for a large ASan process) with kHelperEnv naming a socket, which
// answers one request per input and is started again only when it dies. A fork per input cost
// more than the input itself (copying the page tables of an ASan process of several hundred MB).
// The helper runs with fast malloc stacks and no leak check: only whether hwloc survives matters
// there. An input on which the helper dies is tried once more in a fresh helper before it is
// skipped, so a helper that an earlier input left broken cannot make an input be skipped.
constexpr const char* kHelperEnv = "MPINIT_FUZZ_HWLOC_HELPER";
constexpr int kHelperFd = 197;  // the helper's end of the socket, in the helper

// hwloc alone on one input: a buffer (file empty), or a file restricted to `cpus`, as before.
void hwloc_alone(const std::string& xml, const std::string& file, const std::string& cpus) {
  hwloc_topology_t t = nullptr;
  hwloc_topology_init(&t);
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (!file.empty()) hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  int rc = file.empty() ? hwloc_topology_set_xmlbuffer(t, xml.c_str(), static_cast<int>(xml.size()) + 1)
                        : hwloc_topology_set_xml(t, file.c_str());
  if (rc == 0 && hwloc_topology_load(t) == 0 && !file.empty()) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    hwloc_bitmap_list_sscanf(set, cpus.c_str());
    hwloc_bitmap_and(set, set, hwloc_topology_get_complete_cpuset(t));
    if (!hwloc_bitmap_iszero(set)) hwloc_topology_allow(t, set, nullptr, HWLOC_ALLOW_FLAG_CUSTOM);
    hwloc_bitmap_free(set);
  }
  hwloc_topology_destroy(t);  // the helper lives on: no memory may pile up
}

bool read_all(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_all(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r, n -= static_cast<size_t>(r);
  }
  return true;
}

// A request: the XML's length, the CPU list's length (0 for a buffer, else a file restricted to
// it; the list is never empty then), the XML, the list. The answer: one byte, once hwloc is done.
bool send_request(int fd, const std::string& xml, const std::string& cpus) {
  const uint64_t len[2] = {xml.size(), cpus.size()};
  return write_all(fd, len, sizeof len) && write_all(fd, xml.data(), xml.size()) &&
         write_all(fd, cpus.data(), cpus.size());
}

// The helper's loop: runs before main() in the copy of this binary started by Helper, never in
// the fuzzer or the replay itself. Ends when the fuzzer closes its end.
__attribute__((constructor)) void helper_main() {
  if (!std::getenv(kHelperEnv)) return;
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the fuzzer (one that timed out, say)
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);  // die quietly
  // As kKeepPlugins in the fuzzer (whose initializer may not have run yet): hwloc's plugins stay
  // loaded, rather than be loaded and unloaded (dlopen, relocation) for every input.
  hwloc_topology_t keep_plugins = nullptr;
  hwloc_topology_init(&keep_plugins);
  const int memfd = memfd_create("fuzz-topology-helper", 0);
  const std::string path = "/proc/self/fd/" + std::to_string(memfd);
  std::string xml, cpus;
  const char ready = 1;
  if (!write_all(kHelperFd, &ready, 1)) _exit(2);
  for (uint64_t len[2]; read_all(kHelperFd, len, sizeof len);) {
    xml.resize(len[0]), cpus.resize(len[1]);
    if (!read_all(kHelperFd, xml.data(), xml.size()) || !read_all(kHelperFd, cpus.data(), cpus.size())) break;
    if (!cpus.empty() && (ftruncate(memfd, 0) != 0 || pwrite(memfd, xml.data(), xml.size(), 0) !=
                                                            static_cast<ssize_t>(xml.size())))
      _exit(3);
    hwloc_alone(xml, cpus.empty() ? "" : path, cpus);
    const char ok = 1;
    if (!write_all(kHelperFd, &ok, 1)) break;
  }
  _exit(0);  // no destructors, no leak check
}

class Helper {
 public:
  ~Helper() {
    stop();
    if (skipped_ > 0)
      std::fprintf(stderr, "fuzz_topology_xml: hwloc itself failed on %lu of %lu inputs (skipped); %lu helpers\n",
                   skipped_, requests_, starts_);
  }

  // Whether hwloc survives the input in the helper (in a fresh one, if the first dies).
  bool survives(const std::string& xml, const std::string& cpus, int* status) {
    ++requests_;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (pid_ < 0) start();
      char ok = 0;
      if (send_request(fd_, xml, cpus) && read_all(fd_, &ok, 1) && ok == 1) return true;
      *status = stop();
    }
    ++skipped_;
    return false;
  }

 private:
  void start() {
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], kHelperFd);  // dup2 clears close-on-exec
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "ASAN_OPTIONS=", 13) != 0) env_strings.push_back(*e);
    const char* asan = std::getenv("ASAN_OPTIONS");
    // Later flags win: fast malloc stacks and no leak check in the helper.
    env_strings.push_back(std::string("ASAN_OPTIONS=") + (asan ? asan : "") +
                          ":detect_leaks=0:fast_unwind_on_malloc=1");
    env_strings.push_back(std::string(kHelperEnv) + "=1");
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char arg0[] = "fuzz_topology_xml_hwloc_helper";
    char* argv[] = {arg0, nullptr};
    const int rc = posix_spawn(&pid_, "/proc/self/exe", &fa, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    FUZZ_CHECK(rc == 0, std::string("posix_spawn: ") + std::strerror(rc));
    fd_ = sv[0];
    ++starts_;
    // A helper that cannot start would make every input look like one hwloc dies on.
    char ready = 0;
    FUZZ_CHECK(read_all(fd_, &ready, 1) && ready == 1, "the hwloc helper did not start");
  }

  // Ends the helper; its wait status.
  int stop() {
    if (pid_ < 0) return 0;
    close(fd_);  // a live helper reads EOF and exits
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1, fd_ = -1;
    return status;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  unsigned long requests_ = 0, skipped_ = 0, starts_ = 0;
};

bool hwloc_survives(const std::string& xml, const std::string& cpus) {
  static Helper helper;
  int status = 0;
  const bool survived = helper.survives(xml, cpus, &status);
  static int skipped = 0;
  if (!survived && ++skipped <= 3)
    std::fprintf(stderr, "fuzz_topology_xml: hwloc itself fails on this input (status %d); skipped\n", status);
  return survived;
}

void check_inventory(const NodeTopology& t) {
  std::set<int> pus;
  for (size_t c = 0; c < t.cores.size(); ++c) {
    FUZZ_CHECK(t.cores[c].index == static_cast<int>(c) && !t.cores[c].pus.empty(), "core " + std::to_string(c));
    for (int pu : t.cores[c].pus) FUZZ_CHECK(pu >= 0 && pus.insert(pu).second, "PU " + std::to_string(pu) + " twice");
    if (t.cores[c].numa >= 0)
      FUZZ_CHECK(std::count(t.numa.begin(), t.numa.end(), t.cores[c].numa),
                 "core on NUMA " + std::to_string(t.cores[c].numa));
  }
  for (const auto& g : t.gpus) FUZZ_CHECK(!g.name.empty() && !g.loc.busid.empty(), "a GPU without a name");
  for (const auto& n : t.nics) {
    FUZZ_CHECK(!n.name.empty() && !n.kind.empty(), "a NIC without a name");
    // A network interface has no port state (up, port 0); an OpenFabrics device has a port, 1
    // unless a later one is the ACTIVE one; a down device names port 1.
    FUZZ_CHECK(n.port >= 0 && n.port <= 255, n.name + ": port " + std::to_string(n.port));
    if (n.port == 0) FUZZ_CHECK(n.up, n.name + ": down without a port state");
    if (!n.up) FUZZ_CHECK(n.port == 1, n.name + ": down, yet port " + std::to_string(n.port));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string xml = fuzz::text(data, size);
  const Header h = header(xml);
  NodeTopology t;
  PlanRequest req;
  req.local_size = h.ranks;
  req.policy = h.policy;
  // hwloc reads a buffer as a C string: stop at the first NUL, as an MPI_Bcast'd export would.
  if (h.cpus.empty()) xml.resize(std::min(xml.size(), xml.find('\0')));
  if (!hwloc_survives(xml, h.cpus)) return 0;
  const MemFile file(h.cpus.empty() ? std::string() : xml);
  try {
    if (h.cpus.empty())
      t = detail::inventory(detail::HwlocTopology::from_buffer(xml, "fuzz input", false), "fuzz input");
    else
      t = load_topology(file.path(), h.cpus);
    check_inventory(t);
    if (h.has_visible) {
      req.visible = {resolve_visible(t, "CUDA_VISIBLE_DEVICES", h.visible, "")};
      req.visible_source = "CUDA_VISIBLE_DEVICES";
    }
    Placement p = plan_placement(t, req);
    fuzz::check_plan(t, req, p);
    if (!h.has_visible)
      for (const auto& rp : p.ranks) fuzz::check_exec_visible(t, rp, {});
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() != Errc::internal, e.what());
  }
  return 0;
}
