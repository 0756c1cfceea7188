// How a setting's value is read, checked and written back: the `rule` column of MPINIT_SETTINGS.
// Each rule has parse(var, lowered, raw, out) (throws Error(invalid_setting) naming var and raw),
// text(value) (the value as a variable would spell it), allowed(type*) (for the docs) and
// check(name, value) (values given in code obey the same rule). Internal.
#pragma once

#include <string>

#include "core/enum_names.hpp"
#include "core/parse.hpp"
#include "mpinit/error.hpp"
#include "mpinit/seed.hpp"

namespace mpinit::detail::rules {

[[noreturn]] inline void not_one_of(const std::string& var, const std::string& raw, const std::string& names) {
  throw Error(Errc::invalid_setting, var + "='" + raw + "' is not one of " + names);
}

/// An enum, by the names of its table (case-insensitive).
struct Names {
  template <class E>
  void parse(const std::string& var, const std::string& lowered, const std::string& raw, E& out) const {
    if (!value_of(lowered, out)) not_one_of(var, raw, joined_names<E>());
  }
  template <class E>
  std::string text(E v) const { return name_of(v); }
  template <class E>
  std::string allowed(const E*) const { return joined_names<E>(); }
  template <class E>
  void check(const std::string&, E) const {}
};

/// A switch: on|off (also 1|0, yes|no, true|false).
struct OnOff {
  void parse(const std::string& var, const std::string& v, const std::string& raw, bool& out) const {
    if (v == "on" || v == "1" || v == "yes" || v == "true") out = true;
    else if (v == "off" || v == "0" || v == "no" || v == "false") out = false;
    else not_one_of(var, raw, "on|off");
  }
  std::string text(bool v) const { return v ? "on" : "off"; }
  std::string allowed(const bool*) const { return "on|off"; }
  void check(const std::string&, bool) const {}
};

/// A switch with two words of its own: `no` for false, `yes` for true (root|all).
struct Pair {
  const char* no;
  const char* yes;
  Pair(const char* n, const char* y) : no(n), yes(y) {}
  void parse(const std::string& var, const std::string& v, const std::string& raw, bool& out) const {
    if (v == no || v == yes) out = v == yes;
    else not_one_of(var, raw, std::string(no) + "|" + yes);
  }
  std::string text(bool v) const { return v ? yes : no; }
  std::string allowed(const bool*) const { return std::string(no) + "|" + yes; }
  void check(const std::string&, bool) const {}
};

/// An integer in [lo, hi].
struct Range {
  long lo, hi;
  Range(long l, long h) : lo(l), hi(h) {}
  void parse(const std::string& var, const std::string&, const std::string& raw, int& out) const {
    out = parse_int(var, raw, lo, hi, Errc::invalid_setting);
  }
  std::string text(int v) const { return std::to_string(v); }
  std::string allowed(const int*) const { return std::to_string(lo) + ".." + std::to_string(hi); }
  void check(const std::string& name, int v) const { parse_int(name, std::to_string(v), lo, hi, Errc::invalid_setting); }
};

/// A seed: a decimal unsigned 64-bit integer, or random.
struct Seed {
  void parse(const std::string& var, const std::string&, const std::string& raw, SeedSetting& out) const {
    out = parse_seed(var, raw);
  }
  std::string text(const SeedSetting& v) const { return v.random ? "random" : std::to_string(v.value); }
  std::string allowed(const SeedSetting*) const { return "0..2^64-1|random"; }
  void check(const std::string&, const SeedSetting&) const {}
};

/// A file name, not empty; "" (the default) means this machine.
struct File {
  void parse(const std::string& var, const std::string&, const std::string& raw, std::string& out) const {
    if (raw.empty()) throw Error(Errc::invalid_setting, var + "='' is empty (must name an hwloc XML file)");
    out = raw;
  }
  std::string text(const std::string& v) const { return v.empty() ? "(this machine)" : v; }
  std::string allowed(const std::string*) const { return "an hwloc XML file"; }
  void check(const std::string&, const std::string&) const {}
};

/// A directory, not empty; "" (the default) means mpinit chooses.
struct Directory {
  void parse(const std::string& var, const std::string&, const std::string& raw, std::string& out) const {
    if (raw.empty()) throw Error(Errc::invalid_setting, var + "='' is empty (must name a directory)");
    if (raw[0] != '/') throw Error(Errc::invalid_setting, var + "='" + raw + "' is not an absolute path");
    out = raw;
  }
  std::string text(const std::string& v) const { return v.empty() ? "(automatic)" : v; }
  std::string allowed(const std::string*) const { return "an absolute directory"; }
  void check(const std::string& name, const std::string& v) const {
    if (!v.empty() && v[0] != '/') throw Error(Errc::invalid_setting, name + "='" + v + "' is not an absolute path");
  }
};

}  // namespace mpinit::detail::rules
