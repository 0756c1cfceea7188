// Settings resolution: explicit option > --mpinit-* flag > MPINIT_* variable > default.
#include <algorithm>
#include <string>
#include <tuple>
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

const char* to_string(NcclMode m) noexcept {
  switch (m) {
    case NcclMode::off: return "off";
    case NcclMode::lazy: return "lazy";
    case NcclMode::launch: return "launch";
  }
  return "?";
}

const std::vector<std::string>& known_variables() {
  static const std::vector<std::string> vars = {
      "MPINIT_MODE",     "MPINIT_THREAD_LEVEL", "MPINIT_LOG_LEVEL", "MPINIT_LOG_RANKS", "MPINIT_CHECK",
      "MPINIT_PLACEMENT", "MPINIT_TOPOLOGY",    "MPINIT_GPU_POLICY", "MPINIT_BIND",     "MPINIT_MEMBIND",
      "MPINIT_OVERSUBSCRIBE", "MPINIT_EXPORT_NET", "MPINIT_SEED", "MPINIT_NCCL", "MPINIT_NCCL_TIMEOUT",
      "MPINIT_NCCL_RANKS_PER_ROOT", "MPINIT_LAUNCH_TIMEOUT"};
  return vars;
}

Flags take_flags(int* argc, char*** argv) {
  Flags flags;
  if (!argc || !argv || !*argv) return flags;
  const std::string prefix = "--mpinit-";
  std::vector<char*> keep;
  for (int i = 0; i < *argc; ++i) {
    char* a = (*argv)[i];
    if (i == 0 || !a || std::string(a).rfind(prefix, 0) != 0) {
      keep.push_back(a);
      continue;
    }
    std::string arg = a, name = arg.substr(prefix.size()), value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < *argc && (*argv)[i + 1]) {
      value = (*argv)[++i];
    } else {
      throw Error(Errc::invalid_setting, "the flag " + arg + " needs a value (" + arg + "=VALUE or " + arg + " VALUE)");
    }
    std::string var = "MPINIT_";
    for (char c : name) var += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    flags.push_back({var, prefix + name, value});
  }
  for (size_t i = 0; i < keep.size(); ++i) (*argv)[i] = keep[i];
  (*argv)[keep.size()] = nullptr;
  *argc = static_cast<int>(keep.size());
  return flags;
}

namespace {

// Where settings come from, after explicit options: command-line flags, then the environment.
struct Inputs {
  const EnvMap& env;
  const Flags& flags;
};

// Explicit option > flag > the variable, parsed by `parse(lowercased value, raw value)` > the
// default already in `out`. A bad flag is reported under the flag's own spelling.
template <class T, class Parse>
void resolve_with(Sourced<T>& out, const std::optional<T>& option, const Inputs& in, const char* var, Parse parse) {
  if (option) {
    out = {*option, "option"};
    return;
  }
  const Flag* flag = nullptr;
  for (const auto& f : in.flags)
    if (f.var == var) flag = &f;  // the last one given wins
  std::string raw;
  if (flag) {
    raw = flag->value;
  } else {
    auto it = in.env.find(var);
    if (it == in.env.end()) return;
    raw = it->second;
  }
  std::string v = raw;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!flag) {
    out = {parse(v, raw), var};
    return;
  }
  try {
    out = {parse(v, raw), flag->spelling};
  } catch (const Error& e) {
    std::string m = e.what();
    auto at = m.find(std::string(var) + "=");
    if (at != std::string::npos) m.replace(at, std::string(var).size(), flag->spelling);
    throw Error(e.code(), m);
  }
}

// An enum-valued setting: the value must be one of the names of `all` (case-insensitive).
template <class E, size_t N>
void resolve(Sourced<E>& out, const std::optional<E>& option, const Inputs& env, const char* var,
             const E (&all)[N]) {
  resolve_with(out, option, env, var, [&](const std::string& v, const std::string& raw) {
    std::string names;
    for (E e : all) {
      if (v == to_string(e)) return e;
      names += (names.empty() ? "" : "|") + std::string(to_string(e));
    }
    throw Error(Errc::invalid_setting, std::string(var) + "='" + raw + "' is not one of " + names);
  });
}

// An on/off setting.
void resolve_switch(Sourced<bool>& out, const std::optional<bool>& option, const Inputs& env, const char* var) {
  resolve_with(out, option, env, var, [&](const std::string& v, const std::string& raw) {
    if (v == "on" || v == "1" || v == "yes" || v == "true") return true;
    if (v == "off" || v == "0" || v == "no" || v == "false") return false;
    throw Error(Errc::invalid_setting, std::string(var) + "='" + raw + "' is not one of on|off");
  });
}

}  // namespace

Settings resolve_settings(const Overrides& o, const EnvMap& env_map, const Flags& flags) {
  const Inputs env{env_map, flags};
  Settings s;
  resolve(s.mode, o.mode, env, "MPINIT_MODE",
          {InitMode::own, InitMode::adopt, InitMode::own_if_needed, InitMode::env_only});
  resolve(s.thread_level, o.thread_level, env, "MPINIT_THREAD_LEVEL",
          {ThreadLevel::single, ThreadLevel::funneled, ThreadLevel::serialized, ThreadLevel::multiple});
  resolve(s.log_level, o.log_level, env, "MPINIT_LOG_LEVEL",
          {LogLevel::none, LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug, LogLevel::trace});
  resolve(s.check, o.check, env, "MPINIT_CHECK", {CheckLevel::off, CheckLevel::warn, CheckLevel::error});

  resolve(s.gpu_policy, o.gpu_policy, env, "MPINIT_GPU_POLICY",
          {GpuPolicy::spread, GpuPolicy::exclusive, GpuPolicy::split, GpuPolicy::none});
  resolve_switch(s.placement, o.placement, env, "MPINIT_PLACEMENT");
  resolve_switch(s.bind, o.bind, env, "MPINIT_BIND");
  resolve_switch(s.membind, o.membind, env, "MPINIT_MEMBIND");
  resolve_switch(s.oversubscribe, o.oversubscribe, env, "MPINIT_OVERSUBSCRIBE");
  resolve_switch(s.export_net, o.export_net, env, "MPINIT_EXPORT_NET");
  resolve_with(s.seed, o.seed, env, "MPINIT_SEED",
               [](const std::string&, const std::string& raw) { return parse_seed("MPINIT_SEED", raw); });
  resolve(s.nccl, o.nccl, env, "MPINIT_NCCL", {NcclMode::off, NcclMode::lazy, NcclMode::launch});
  resolve_with(s.nccl_timeout_s, o.nccl_timeout_s, env, "MPINIT_NCCL_TIMEOUT", [](const std::string&, const std::string& raw) {
    return parse_int("MPINIT_NCCL_TIMEOUT", raw, 1, 86400, Errc::invalid_setting);
  });
  resolve_with(s.nccl_ranks_per_root, o.nccl_ranks_per_root, env, "MPINIT_NCCL_RANKS_PER_ROOT",
               [](const std::string&, const std::string& raw) {
                 return parse_int("MPINIT_NCCL_RANKS_PER_ROOT", raw, 1, 1 << 24, Errc::invalid_setting);
               });
  resolve_with(s.launch_timeout_s, o.launch_timeout_s, env, "MPINIT_LAUNCH_TIMEOUT",
               [](const std::string&, const std::string& raw) {
                 return parse_int("MPINIT_LAUNCH_TIMEOUT", raw, 0, 86400, Errc::invalid_setting);
               });
  // Values given in code are checked by the same rules as the variables.
  for (auto [v, name, lo, hi] : {std::make_tuple(&s.nccl_timeout_s, "Options::nccl_timeout_s", 1, 86400),
                                 std::make_tuple(&s.nccl_ranks_per_root, "Options::nccl_ranks_per_root", 1, 1 << 24),
                                 std::make_tuple(&s.launch_timeout_s, "Options::launch_timeout_s", 0, 86400)})
    if (v->source == "option") parse_int(name, std::to_string(v->value), lo, hi, Errc::invalid_setting);
  resolve_with(s.topology_file, o.topology_file, env, "MPINIT_TOPOLOGY", [](const std::string&, const std::string& raw) {
    if (raw.empty()) throw Error(Errc::invalid_setting, "MPINIT_TOPOLOGY='' is empty (must name an hwloc XML file)");
    return raw;
  });
  resolve_with(s.log_all_ranks, o.log_all_ranks, env, "MPINIT_LOG_RANKS", [](const std::string& v, const std::string& raw) {
    if (v == "all" || v == "root") return v == "all";
    throw Error(Errc::invalid_setting, "MPINIT_LOG_RANKS='" + raw + "' is not one of root|all");
  });

  const auto& known = known_variables();
  // Written by `mpinit exec` for the program it starts; not settings.
  static const std::vector<std::string> outputs = {"MPINIT_RANK_SEED", "MPINIT_GPU"};
  for (auto it = env_map.lower_bound("MPINIT_"); it != env_map.end() && it->first.rfind("MPINIT_", 0) == 0; ++it)
    if (std::find(known.begin(), known.end(), it->first) == known.end() &&
        std::find(outputs.begin(), outputs.end(), it->first) == outputs.end())
      s.warnings.push_back(it->first + " is not a setting mpinit knows (a typo?); ignored");
  for (const auto& f : flags)
    if (std::find(known.begin(), known.end(), f.var) == known.end())
      s.warnings.push_back("the flag " + f.spelling + " is not a setting mpinit knows (a typo?); ignored");
  return s;
}

std::vector<SettingRow> describe(const Settings& s) {
  return {
      {"mode", to_string(s.mode.value), s.mode.source},
      {"thread_level", to_string(s.thread_level.value), s.thread_level.source},
      {"log_level", to_string(s.log_level.value), s.log_level.source},
      {"log_ranks", s.log_all_ranks.value ? "all" : "root", s.log_all_ranks.source},
      {"check", to_string(s.check.value), s.check.source},
      {"placement", s.placement.value ? "on" : "off", s.placement.source},
      {"topology", s.topology_file.value.empty() ? "(this machine)" : s.topology_file.value, s.topology_file.source},
      {"gpu_policy", to_string(s.gpu_policy.value), s.gpu_policy.source},
      {"bind", s.bind.value ? "on" : "off", s.bind.source},
      {"membind", s.membind.value ? "on" : "off", s.membind.source},
      {"oversubscribe", s.oversubscribe.value ? "on" : "off", s.oversubscribe.source},
      {"export_net", s.export_net.value ? "on" : "off", s.export_net.source},
      {"seed", s.seed.value.random ? "random" : std::to_string(s.seed.value.value), s.seed.source},
      {"nccl", to_string(s.nccl.value), s.nccl.source},
      {"nccl_timeout_s", std::to_string(s.nccl_timeout_s.value), s.nccl_timeout_s.source},
      {"nccl_ranks_per_root", std::to_string(s.nccl_ranks_per_root.value), s.nccl_ranks_per_root.source},
      {"launch_timeout_s", std::to_string(s.launch_timeout_s.value), s.launch_timeout_s.source},
  };
}

}  // namespace v1
}  // namespace mpinit
