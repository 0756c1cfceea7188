// Rank-aware logging: "host:pid [rank r/lr] mpinit LEVEL message" on stderr.
#pragma once

#include <string>

#include "mpinit/enums.hpp"
#include "mpinit/export.hpp"

namespace mpinit {
inline namespace v2 {

/// Writes one line per message to stderr. WARN and ERROR are printed on every rank; INFO and
/// finer only on rank 0 unless all ranks are asked for (MPINIT_LOG_RANKS=all).
class MPINIT_API Logger {
 public:
  Logger() = default;
  Logger(LogLevel level, bool all_ranks) : level_(level), all_ranks_(all_ranks) {}

  /// Set once the identity is known; before that the prefix shows "?" (or the env's rank).
  void set_rank(int rank, int local_rank) {
    rank_ = rank;
    local_rank_ = local_rank;
  }
  bool enabled(LogLevel level) const noexcept;
  void log(LogLevel level, const std::string& message) const;
  void error(const std::string& m) const { log(LogLevel::error, m); }
  void warn(const std::string& m) const { log(LogLevel::warn, m); }
  void info(const std::string& m) const { log(LogLevel::info, m); }
  void debug(const std::string& m) const { log(LogLevel::debug, m); }
  /// The line prefix, e.g. "node1:4242 [rank 3/1] mpinit WARN ".
  std::string prefix(LogLevel level) const;

 private:
  LogLevel level_ = LogLevel::warn;
  bool all_ranks_ = false;
  int rank_ = -1;
  int local_rank_ = -1;
};

}  // namespace v2
}  // namespace mpinit
