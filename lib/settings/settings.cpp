// Settings resolution from the one table, MPINIT_SETTINGS: explicit option > --mpinit-* flag >
// MPINIT_* variable > default.
#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/settings.hpp"
#include "settings/rules.hpp"

namespace mpinit {
inline namespace v2 {
namespace {

using namespace detail::rules;

std::string flag_of(const std::string& var) {
  std::string flag = "--mpinit-";
  for (char c : var.substr(7)) flag += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return flag;
}

// Where settings come from, after explicit options: command-line flags, then the environment.
struct Inputs {
  const EnvMap& env;
  const Flags& flags;
};

// Explicit option (checked by the rule, named `option_name`) > flag > the variable > the default
// already in `out`. A bad flag is reported under the flag's own spelling.
template <class T, class Rule>
void resolve_one(Sourced<T>& out, const std::optional<T>& option, const Inputs& in, const char* var,
                 const char* option_name, const Rule& rule) {
  if (option) {
    rule.check(option_name, *option);
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
  T value{};
  if (!flag) {
    rule.parse(var, v, raw, value);
    out = {value, var};
    return;
  }
  try {
    rule.parse(var, v, raw, value);
    out = {value, flag->spelling};
  } catch (const Error& e) {
    std::string m = e.what();
    auto at = m.find(std::string(var) + "=");
    if (at != std::string::npos) m.replace(at, std::string(var).size(), flag->spelling);
    throw Error(e.code(), m);
  }
}

}  // namespace

const std::vector<SettingInfo>& setting_table() {
  static const std::vector<SettingInfo> table = [] {
    std::vector<SettingInfo> t;
#define MPINIT_SETTING_INFO(field, type, def, var, rule, name, doc) \
  t.push_back({#name, var, flag_of(var), #field, rule.allowed(static_cast<const type*>(nullptr)), rule.text(type(def)), doc});
    MPINIT_SETTINGS(MPINIT_SETTING_INFO)
#undef MPINIT_SETTING_INFO
    return t;
  }();
  return table;
}

const std::vector<std::string>& known_variables() {
  static const std::vector<std::string> vars = [] {
    std::vector<std::string> v;
    for (const auto& row : setting_table()) v.push_back(row.variable);
    return v;
  }();
  return vars;
}

Settings resolve_settings(const Overrides& o, const EnvMap& env_map, const Flags& flags) {
  const Inputs in{env_map, flags};
  Settings s;
#define MPINIT_SETTING_RESOLVE(field, type, def, var, rule, name, doc) \
  resolve_one(s.field, o.field, in, var, "Options::" #field, rule);
  MPINIT_SETTINGS(MPINIT_SETTING_RESOLVE)
#undef MPINIT_SETTING_RESOLVE

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
  std::vector<SettingRow> rows;
#define MPINIT_SETTING_ROW(field, type, def, var, rule, name, doc) \
  rows.push_back({#name, rule.text(s.field.value), s.field.source});
  MPINIT_SETTINGS(MPINIT_SETTING_ROW)
#undef MPINIT_SETTING_ROW
  return rows;
}

}  // namespace v2
}  // namespace mpinit
