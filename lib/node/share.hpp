// The node's meeting place before MPI: one topology discovery per node, shared through a private
// directory of the node (docs/placement.md, "One discovery per node without MPI"). Internal.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "mpinit/env.hpp"
#include "mpinit/log.hpp"
#include "mpinit/sourced.hpp"

namespace mpinit::detail {

using Deadline = std::chrono::steady_clock::time_point;

/// What names this job step on a node, so that its ranks meet and two jobs never do.
struct ShareKey {
  std::string value;
  std::string source;    ///< the variable(s) it came from, for the log
  bool guessed = false;  ///< from the parent pid (Hydra, mpispawn, torchrun's agent): a wrapper
                         ///< between the proxy and a rank (sh -c) gives that rank another key
};

/// The key: Open MPI's PMIX_NAMESPACE, Slurm's SLURM_JOB_ID and SLURM_STEP_ID, Flux's
/// FLUX_JOB_ID, PALS_APID, LSB_JOBID; else, for launchers whose node proxy forks the ranks, the
/// proxy's pid (guessed); nullopt where the launcher gives none.
std::optional<ShareKey> share_key(const EnvMap& env);

/// How long a rank waits for a share whose key is only guessed before it discovers the topology
/// itself (its leader may be looking in another directory).
constexpr std::chrono::seconds kGuessedKeyWait{3};

/// The job's directory on this node: <base>/mpinit-<uid>-<16 hex digits of the hash of the key and
/// the host name> (nodes that share one /dev/shm, such as containers on one machine, keep apart),
/// where <base> is `setting` if given, else /dev/shm, else $TMPDIR, else /tmp.
std::string share_dir(const std::string& setting, const EnvMap& env, const std::string& key, const std::string& host);

/// Remove a share directory and the files in it (never following a link, never a directory that
/// is not this user's). Only system calls: safe from the launch watchdog's thread. Never throws.
void remove_share(const std::string& dir) noexcept;

/// What the node's leader published: its topology as XML, or its error.
struct Published {
  bool ok = false;           ///< false: the leader failed and `text` is its error
  bool this_system = false;  ///< the leader discovered this machine (not a file)
  std::string text;          ///< the XML, or the leader's error
};

/// One node's share. The leader (local rank 0) creates the directory (0700; a leftover of an earlier
/// run is cleaned, one owned by someone else or a symbolic link refused), names itself, then
/// writes the topology, or its error, to a temporary file renamed into place: a reader sees the
/// whole file or none. The others wait for it, check it (owner, this job's key, a leader that is
/// running, its length and checksum: anything else is ignored with a note, never imported), and
/// mark themselves done; the leader removes the directory once all are done.
class NodeShare {
 public:
  NodeShare(std::string dir, std::string key, int rank, int local_rank, int local_size, std::string host);

  const std::string& dir() const { return dir_; }
  int local_size() const { return local_size_; }

  /// Leader: make (or clean) the directory and name this rank in it.
  void open_as_leader(const Logger& log);
  /// Leader: publish the topology or the leader's error.
  void publish(const Published& p);
  /// Any rank that failed before the share (its settings or environment) and whose local rank is
  /// not surely 0: publish the failure without disturbing what a leader made, so that no local
  /// rank waits for a leader that may never publish; MPI's agreement reports the failure itself.
  void publish_failure(const std::string& message);
  /// Leader: wait until every other local rank is done (or the deadline), then remove the share.
  /// Returns the local ranks that never said they were done ("" when all did).
  std::string wait_and_remove(Deadline deadline);
  /// Remove the directory and everything in it (files only; never follows a link). Never throws.
  void remove() noexcept { remove_share(dir_); }

  /// Follower: wait for the leader's publication until `deadline`. Throws Error(invalid_environment)
  /// when the directory is not this user's, and, at the deadline, an Error naming the leader's
  /// rank, the host, the path and what was found there; nullopt instead when `give_up` (a
  /// guessed key: the caller discovers the topology itself).
  std::optional<Published> receive(Deadline deadline, const std::string& timeout_setting, const Logger& log,
                                   bool give_up = false) const;
  /// Follower: say this rank has what it needs (or failed); the last of the node's other ranks to
  /// say so removes the share (the leader removes it too, should one of them never come).
  void done() noexcept;

 private:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_, key_;
  int rank_, local_rank_, local_size_;
  std::string host_;
};

}  // namespace mpinit::detail
