// Settings resolution: explicit option > MPINIT_* variable > default.
#include <algorithm>
#include <string>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/settings.hpp"

namespace mpinit {
inline namespace v1 {

const char* to_string(InitMode m) noexcept {
  switch (m) {
    case InitMode::own: return "own";
    case InitMode::adopt: return "adopt";
    case InitMode::own_if_needed: return "own_if_needed";
    case InitMode::env_only: return "env_only";
  }
  return "?";
}
const char* to_string(ThreadLevel t) noexcept {
  switch (t) {
    case ThreadLevel::single: return "single";
    case ThreadLevel::funneled: return "funneled";
    case ThreadLevel::serialized: return "serialized";
    case ThreadLevel::multiple: return "multiple";
  }
  return "?";
}
const char* to_string(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::none: return "none";
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    case LogLevel::trace: return "trace";
  }
  return "?";
}
const char* to_string(CheckLevel c) noexcept {
  switch (c) {
    case CheckLevel::off: return "off";
    case CheckLevel::warn: return "warn";
    case CheckLevel::error: return "error";
  }
  return "?";
}

const std::vector<std::string>& known_variables() {
  static const std::vector<std::string> vars = {"MPINIT_MODE", "MPINIT_THREAD_LEVEL", "MPINIT_LOG_LEVEL",
                                                "MPINIT_LOG_RANKS", "MPINIT_CHECK"};
  return vars;
}

namespace {

// Parse one enum-valued setting: the value must be one of the names of `all` (case-insensitive).
template <class E, size_t N>
void resolve(Sourced<E>& out, const std::optional<E>& option, const EnvMap& env, const char* var,
             const E (&all)[N]) {
  if (option) {
    out = {*option, "option"};
    return;
  }
  auto it = env.find(var);
  if (it == env.end()) return;
  std::string v = it->second;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string names;
  for (E e : all) {
    if (v == to_string(e)) {
      out = {e, var};
      return;
    }
    names += (names.empty() ? "" : "|") + std::string(to_string(e));
  }
  throw Error(Errc::invalid_setting, std::string(var) + "='" + it->second + "' is not one of " + names);
}

}  // namespace

Settings resolve_settings(const Overrides& o, const EnvMap& env) {
  Settings s;
  resolve(s.mode, o.mode, env, "MPINIT_MODE",
          {InitMode::own, InitMode::adopt, InitMode::own_if_needed, InitMode::env_only});
  resolve(s.thread_level, o.thread_level, env, "MPINIT_THREAD_LEVEL",
          {ThreadLevel::single, ThreadLevel::funneled, ThreadLevel::serialized, ThreadLevel::multiple});
  resolve(s.log_level, o.log_level, env, "MPINIT_LOG_LEVEL",
          {LogLevel::none, LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug, LogLevel::trace});
  resolve(s.check, o.check, env, "MPINIT_CHECK", {CheckLevel::off, CheckLevel::warn, CheckLevel::error});

  if (o.log_all_ranks) {
    s.log_all_ranks = {*o.log_all_ranks, "option"};
  } else if (auto it = env.find("MPINIT_LOG_RANKS"); it != env.end()) {
    if (it->second == "all")
      s.log_all_ranks = {true, "MPINIT_LOG_RANKS"};
    else if (it->second == "root")
      s.log_all_ranks = {false, "MPINIT_LOG_RANKS"};
    else
      throw Error(Errc::invalid_setting, "MPINIT_LOG_RANKS='" + it->second + "' is not one of root|all");
  }

  const auto& known = known_variables();
  for (auto it = env.lower_bound("MPINIT_"); it != env.end() && it->first.rfind("MPINIT_", 0) == 0; ++it)
    if (std::find(known.begin(), known.end(), it->first) == known.end())
      s.warnings.push_back(it->first + " is not a setting mpinit knows (a typo?); ignored");
  return s;
}

std::vector<SettingRow> describe(const Settings& s) {
  return {
      {"mode", to_string(s.mode.value), s.mode.source},
      {"thread_level", to_string(s.thread_level.value), s.thread_level.source},
      {"log_level", to_string(s.log_level.value), s.log_level.source},
      {"log_ranks", s.log_all_ranks.value ? "all" : "root", s.log_all_ranks.source},
      {"check", to_string(s.check.value), s.check.source},
  };
}

}  // namespace v1
}  // namespace mpinit
