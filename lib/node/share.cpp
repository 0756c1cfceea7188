// The node's share before MPI (share.hpp).
#include "node/share.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "core/parse.hpp"
#include "mpinit/error.hpp"

namespace mpinit::detail {
namespace {

using Clock = std::chrono::steady_clock;

const char* get(const EnvMap& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? nullptr : it->second.c_str();
}

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// "" when `dir` is a directory of this user that no one else may enter or write, else why not;
// "missing" when it does not exist.
std::string check_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return errno == ENOENT ? "missing" : std::strerror(errno);
  if (S_ISLNK(st.st_mode)) return "is a symbolic link";
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  if (st.st_uid != ::geteuid())
    return "is owned by uid " + std::to_string(st.st_uid) + ", not this user (uid " + std::to_string(::geteuid()) + ")";
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return std::string("is open to other users (mode ") + mode + ", must be 0700)";
  }
  return "";
}

[[noreturn]] void refuse(const std::string& dir, const std::string& why) {
  throw Error(Errc::invalid_environment, "the node's share directory " + dir + " " + why +
                                             ": refusing to use it (MPINIT_SHARE_DIR chooses another place)");
}

// The whole of a regular file of this user, not through a link; nullopt if it is not there.
// `why` says what is wrong with a file that is there but not usable.
std::optional<std::string> read_own_file(const std::string& path, std::string* why) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT && why) *why = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    if (why) *why = path + " is not a regular file of this user";
    ::close(fd);
    return std::nullopt;
  }
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// Write `text` to dir/name through a temporary file renamed into place.
void write_atomically(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string tmp = dir + "/" + name + ".tmp." + std::to_string(::getpid());
  const std::string dest = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Errc::system, "cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(Errc::system, "cannot write " + tmp + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(Errc::system, "cannot rename " + tmp + " to " + dest + ": " + std::strerror(err));
  }
}

// "name=value" lines up to an empty line; the rest is the payload.
struct Parsed {
  std::vector<std::pair<std::string, std::string>> fields;
  std::string payload;
  std::string field(const std::string& name) const {
    for (const auto& [k, v] : fields)
      if (k == name) return v;
    return "";
  }
};

Parsed parse(const std::string& text) {
  Parsed p;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;
    if (nl == pos) {
      p.payload = text.substr(nl + 1);
      return p;
    }
    std::string line = text.substr(pos, nl - pos);
    size_t eq = line.find('=');
    if (eq != std::string::npos) p.fields.push_back({line.substr(0, eq), line.substr(eq + 1)});
    pos = nl + 1;
  }
  return p;
}

bool running(const std::string& pid_text) {
  if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9)
    return false;
  const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

std::string leader_words(const Parsed& leader, const std::string& host) {
  const std::string rank = leader.field("rank");
  return "the node's leader (local rank 0" + (rank.empty() ? std::string() : ", rank " + rank) +
         (leader.field("pid").empty() ? "" : ", pid " + leader.field("pid")) + ", on " + host + ")";
}

}  // namespace

std::optional<ShareKey> share_key(const EnvMap& env) {
  if (const char* ns = get(env, "PMIX_NAMESPACE")) return ShareKey{ns, "PMIX_NAMESPACE"};
  const char* step = get(env, "SLURM_STEP_ID");
  if (!step) step = get(env, "SLURM_STEPID");
  if (const char* job = get(env, "SLURM_JOB_ID"); job && step)
    return ShareKey{std::string("slurm.") + job + "." + step, "SLURM_JOB_ID and SLURM_STEP_ID"};
  if (const char* id = get(env, "FLUX_JOB_ID")) return ShareKey{std::string("flux.") + id, "FLUX_JOB_ID"};
  if (const char* id = get(env, "PALS_APID")) return ShareKey{std::string("pals.") + id, "PALS_APID"};
  if (const char* id = get(env, "LSB_JOBID")) return ShareKey{std::string("lsf.") + id, "LSB_JOBID"};
  // Launchers whose per-node proxy forks the ranks: the proxy is running for the whole job.
  const std::string ppid = std::to_string(::getppid());
  if (const char* id = get(env, "TORCHELASTIC_RUN_ID"))
    return ShareKey{std::string("torchrun.") + id + "." + ppid, "TORCHELASTIC_RUN_ID and the agent's pid", true};
  if (get(env, "MPI_LOCALRANKID") || get(env, "MV2_COMM_WORLD_LOCAL_RANK"))
    return ShareKey{"proxy." + ppid, "the parent pid (hydra's or mpispawn's node proxy, unless a wrapper is between)",
                    true};
  return std::nullopt;
}

std::string share_dir(const std::string& setting, const EnvMap& env, const std::string& key, const std::string& host) {
  std::string base = setting;
  if (base.empty()) {
    struct stat st {};
    if (::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/dev/shm", W_OK) == 0)
      base = "/dev/shm";
    else if (const char* t = get(env, "TMPDIR"))
      base = t;
    else
      base = "/tmp";
  }
  return base + "/mpinit-" + std::to_string(::geteuid()) + "-" + hex(fnv1a(key + "@" + host));
}

NodeShare::NodeShare(std::string dir, std::string key, int rank, int local_rank, int local_size, std::string host)
    : dir_(std::move(dir)),
      key_(std::move(key)),
      rank_(rank),
      local_rank_(local_rank),
      local_size_(local_size),
      host_(std::move(host)) {}

void NodeShare::open_as_leader(const Logger& log) {
  if (::mkdir(dir_.c_str(), 0700) != 0) {
    if (errno != EEXIST) throw Error(Errc::system, "cannot create the node's share directory " + dir_ + ": " +
                                                       std::strerror(errno) + " (MPINIT_SHARE_DIR chooses another place)");
    const std::string why = check_dir(dir_);
    if (!why.empty()) refuse(dir_, why);
    // This rank is the only one that makes it: what is there was left by an earlier run.
    log.warn("the node's share directory " + dir_ + " was left by an earlier run; its files are removed");
    remove();
    if (::mkdir(dir_.c_str(), 0700) != 0)
      throw Error(Errc::system, "cannot create the node's share directory " + dir_ + ": " + std::strerror(errno));
  }
  write_atomically(dir_, "leader",
                   "rank=" + std::to_string(rank_) + "\npid=" + std::to_string(::getpid()) + "\nhost=" + host_ + "\n");
}

void NodeShare::publish(const Published& p) {
  write_atomically(dir_, "topology",
                   "format=mpinit-node-share-1\nkey=" + key_ + "\npid=" + std::to_string(::getpid()) +
                       "\nstatus=" + (p.ok ? "ok" : "error") + "\nthis_system=" + (p.this_system ? "1" : "0") +
                       "\nbytes=" + std::to_string(p.text.size()) + "\nfnv1a=" + hex(fnv1a(p.text)) + "\n\n" + p.text);
}

void NodeShare::publish_failure(const std::string& message) {
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    throw Error(Errc::system, "cannot create the node's share directory " + dir_ + ": " + std::strerror(errno));
  const std::string why = check_dir(dir_);
  if (!why.empty()) refuse(dir_, why);
  std::string unused;
  if (read_own_file(path("topology"), &unused)) return;  // the leader was first: the others have what they need
  publish({false, false, message});
}

std::string NodeShare::wait_and_remove(Deadline deadline) {
  std::string missing;
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(20))) {
    missing.clear();
    if (check_dir(dir_) == "missing") break;  // the last of the others removed it: all are done
    for (int lr = 1; lr < local_size_; ++lr)
      if (::access(path("done." + std::to_string(lr)).c_str(), F_OK) != 0)
        missing += (missing.empty() ? "" : ", ") + std::to_string(lr);
    if (missing.empty() || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  remove();
  return missing;
}

void remove_share(const std::string& dir) noexcept {
  if (dir.empty() || !check_dir(dir).empty()) return;  // not there, or not ours to empty
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    ::closedir(d);
    for (const auto& n : names) ::unlink((dir + "/" + n).c_str());  // unlink never follows a link
  }
  ::rmdir(dir.c_str());
}

std::optional<Published> NodeShare::receive(Deadline deadline, const std::string& timeout_setting, const Logger& log,
                                            bool give_up) const {
  std::string seen;  // what was found that could not be used, for the message
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(20))) {
    const std::string why = check_dir(dir_);
    if (why.empty()) {
      std::string bad;
      if (auto text = read_own_file(path("topology"), &bad)) {
        const Parsed p = parse(*text);
        std::string skip;
        if (p.field("format") != "mpinit-node-share-1")
          skip = "a file that is not mpinit's";
        else if (p.field("key") != key_)
          skip = "a file of another job (key " + p.field("key") + ")";
        else if (!running(p.field("pid")))
          skip = "a file left by pid " + p.field("pid") + ", which is no longer running";
        else if (p.field("bytes") != std::to_string(p.payload.size()) || p.field("fnv1a") != hex(fnv1a(p.payload)))
          skip = "a truncated or altered file (" + std::to_string(p.payload.size()) + " of " + p.field("bytes") +
                 " bytes)";
        if (skip.empty()) return Published{p.field("status") == "ok", p.field("this_system") == "1", p.payload};
        if (seen != skip) log.debug("the node's share " + path("topology") + " holds " + skip + "; not used");
        seen = skip;
      } else if (!bad.empty()) {
        refuse(dir_, "holds " + bad);
      }
    } else if (why != "missing") {
      refuse(dir_, why);
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  if (give_up) return std::nullopt;
  std::string unused;
  const Parsed leader = parse(read_own_file(path("leader"), &unused).value_or("") + "\n");
  throw Error(Errc::invalid_environment,
              leader_words(leader, host_) + " did not publish the node's topology at " + path("topology") +
                  " within " + timeout_setting +
                  (check_dir(dir_) == "missing" ? " (the directory was never made: the leader did not start)"
                   : seen.empty()             ? ""
                                              : " (found " + seen + ")"));
}

void NodeShare::done() noexcept {
  if (!check_dir(dir_).empty()) return;  // never write into a directory that was refused, or is gone
  int fd = ::open(path("done." + std::to_string(local_rank_)).c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ::close(fd);
  // This rank's mark comes before its count, so the last one to count sees every mark.
  int marks = 0;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) marks += std::strncmp(e->d_name, "done.", 5) == 0;
    ::closedir(d);
  }
  if (local_size_ > 1 && marks >= local_size_ - 1) remove();
}

}  // namespace mpinit::detail
