// The Logger (log.hpp).
#include "mpinit/log.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <string>

#include "core/system.hpp"

namespace mpinit {
inline namespace v2 {

bool Logger::enabled(LogLevel level) const noexcept {
  if (level == LogLevel::none || level > level_) return false;
  if (level <= LogLevel::warn || all_ranks_) return true;
  return rank_ <= 0;  // INFO and finer: rank 0 (or not yet known) only
}

std::string Logger::prefix(LogLevel level) const {
  static const std::string host = detail::hostname();
  std::string r = rank_ < 0 ? "?" : std::to_string(rank_);
  std::string lr = local_rank_ < 0 ? "?" : std::to_string(local_rank_);
  std::string lvl = to_string(level);
  for (auto& c : lvl) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return host + ":" + std::to_string(::getpid()) + " [rank " + r + "/" + lr + "] mpinit " + lvl + " ";
}

void Logger::log(LogLevel level, const std::string& message) const {
  if (!enabled(level)) return;
  std::string line = prefix(level) + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write per line, so ranks do not interleave
  std::fflush(stderr);
}

}  // namespace v2
}  // namespace mpinit
