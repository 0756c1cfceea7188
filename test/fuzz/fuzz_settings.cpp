// Fuzz target: MPINIT_* settings from the environment and from --mpinit-* command-line flags
// (take_flags, resolve_settings). Input: lines; NAME=VALUE lines not starting with '-' are the
// environment, the others are arguments after argv[0]. take_flags leaves the other arguments in
// order (and argv untouched when it throws); every setting comes from its default, its variable or
// its flag, and the value it reports, given back as that variable, resolves to itself; an error
// names the variable or flag.
#include <string>

#include "fuzz.hpp"
#include "mpinit/settings.hpp"

using namespace mpinit;

namespace {

const std::string kPrefix = "--mpinit-";

bool starts(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}

// The argv that remains after the flags and their values are taken out of `args`.
std::vector<std::string> expected_rest(const std::vector<std::string>& args) {
  std::vector<std::string> rest = {args[0]};
  for (size_t i = 1; i < args.size(); ++i) {
    if (!starts(args[i], kPrefix))
      rest.push_back(args[i]);
    else if (args[i].find('=') == std::string::npos)
      ++i;  // its value is the next argument
  }
  return rest;
}

Flags take(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  char** p = argv.data();
  const std::vector<std::string> before = args, rest = expected_rest(args);
  Flags flags;
  try {
    flags = take_flags(&argc, &p);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == Errc::invalid_setting && fuzz::contains(e.what(), kPrefix), e.what());
    FUZZ_CHECK(argc == static_cast<int>(before.size()), "argc changed by a failed take_flags");
    for (int i = 0; i < argc; ++i) FUZZ_CHECK(p[i] == args[i].data(), "argv changed by a failed take_flags");
    throw;
  }
  FUZZ_CHECK(argc == static_cast<int>(rest.size()) && p[argc] == nullptr, "argc " + std::to_string(argc));
  for (int i = 0; i < argc; ++i) FUZZ_CHECK(p[i] == rest[i], "argument " + std::to_string(i) + " is '" + p[i] + "'");
  for (const auto& f : flags) {
    FUZZ_CHECK(starts(f.spelling, kPrefix) && starts(f.var, "MPINIT_"), f.spelling + " -> " + f.var);
    FUZZ_CHECK(f.var.size() - 7 == f.spelling.size() - kPrefix.size(), f.spelling + " -> " + f.var);
  }
  return flags;
}

// The variable behind a source: the variable itself, or the flag's.
std::string var_of(const std::string& source, const Flags& flags) {
  for (const auto& f : flags)
    if (f.spelling == source) return f.var;
  return source;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args = {"prog"};
  EnvMap env;
  for (auto& l : fuzz::lines(fuzz::text(data, size))) {
    fuzz::end_at_nul(l);
    if (l.empty() || l[0] == '-' || l.find('=') == std::string::npos || l[0] == '=')
      args.push_back(l);
    else
      env[l.substr(0, l.find('='))] = l.substr(l.find('=') + 1);
  }
  Flags flags;
  try {
    flags = take(args);
  } catch (const Error&) {
    return 0;
  }
  Settings s;
  try {
    s = resolve_settings(Overrides{}, env, flags);
  } catch (const Error& e) {
    std::vector<std::string> names;
    for (const auto& kv : env) names.push_back(kv.first);
    for (const auto& f : flags) names.push_back(f.spelling);
    FUZZ_CHECK(e.code() == Errc::invalid_setting && fuzz::names_one_of(e, names, "='"), e.what());
    return 0;
  }
  const auto& known = known_variables();
  for (const auto& row : describe(s)) {
    if (row.source == "default") continue;
    const std::string var = var_of(row.source, flags);
    FUZZ_CHECK(std::count(known.begin(), known.end(), var), row.name + " from " + row.source);
    FUZZ_CHECK(env.count(var) || var != row.source, row.name + " from " + var + ", which is not set");
    // The value as reported, given back as the variable, is the same setting.
    Settings again = resolve_settings(Overrides{}, {{var, row.value}});
    bool same = false;
    for (const auto& r : describe(again))
      if (r.name == row.name) same = r.value == row.value && r.source == var;
    FUZZ_CHECK(same, row.name + "=" + row.value + " from " + row.source + " does not resolve to itself");
  }
  // A variable or flag mpinit reads is never silently ignored.
  for (const auto& var : known)
    if (env.count(var) || std::any_of(flags.begin(), flags.end(), [&](const Flag& f) { return f.var == var; })) {
      bool shown = false;
      for (const auto& row : describe(s)) shown = shown || var_of(row.source, flags) == var;
      FUZZ_CHECK(shown, var + " is set but no setting comes from it");
    }
  FUZZ_CHECK(s.nccl_timeout_s.value >= 1 && s.nccl_timeout_s.value <= 86400, std::to_string(s.nccl_timeout_s.value));
  FUZZ_CHECK(s.nccl_ranks_per_root.value >= 1 && s.nccl_ranks_per_root.value <= 1 << 24,
             std::to_string(s.nccl_ranks_per_root.value));
  FUZZ_CHECK(s.launch_timeout_s.value >= 0 && s.launch_timeout_s.value <= 86400,
             std::to_string(s.launch_timeout_s.value));
  return 0;
}
