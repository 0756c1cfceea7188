// Shared by the fuzz targets: turning bytes into inputs, and invariant checks. A broken invariant
// aborts (libFuzzer records the input; the replay tests fail); mpinit::Error is an expected outcome.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mpinit/env.hpp"
#include "mpinit/error.hpp"

namespace fuzz {

[[noreturn]] inline void broken(const char* file, int line, const char* cond, const std::string& what) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n  %s\n", file, line, cond, what.c_str());
  std::abort();
}

}  // namespace fuzz

/// Abort with `what` (a std::string expression) unless `cond` holds.
#define FUZZ_CHECK(cond, what)                                    \
  do {                                                            \
    if (!(cond)) ::fuzz::broken(__FILE__, __LINE__, #cond, what); \
  } while (0)

namespace fuzz {

/// True under replay.cpp's main() (the `fuzz` suite), false under libFuzzer. Targets that test
/// only a share of their costliest inputs while fuzzing (lists.hpp) test every input here.
inline bool& replaying() {
  static bool r = false;
  return r;
}

inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Cut `s` at its first NUL, as an environment string or a command-line argument ends there.
inline std::string& end_at_nul(std::string& s) {
  s.resize(std::min(s.size(), s.find('\0')));
  return s;
}

/// The input as an environment value or a command-line argument.
inline std::string c_string(const uint8_t* data, size_t size) {
  std::string s = text(data, size);
  return end_at_nul(s);
}

/// Split at '\n' (every line, empty ones too).
inline std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t nl = s.find('\n', pos);
    out.push_back(s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) return out;
    pos = nl + 1;
  }
}

/// NAME=VALUE lines as an environment (the first '=' splits; later lines of a name win, as in
/// `env`; a line ends at a NUL, as environment strings do). Lines without '=' go to `rest` when
/// given, else are ignored.
inline mpinit::EnvMap env_of(const std::vector<std::string>& ls, std::vector<std::string>* rest = nullptr) {
  mpinit::EnvMap env;
  for (std::string l : ls) {
    end_at_nul(l);
    size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      if (rest) rest->push_back(l);
      continue;
    }
    env[l.substr(0, eq)] = l.substr(eq + 1);
  }
  return env;
}

inline bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

/// The message of a bad-input Error names the input: one of `names` followed by `after`
/// ("NAME='value'..." or "NAME=3 is not below ...").
inline bool names_one_of(const mpinit::Error& e, const std::vector<std::string>& names, const std::string& after) {
  const std::string m = e.what();
  for (const auto& n : names)
    if (contains(m, n + after)) return true;
  return false;
}

/// Bytes consumed from the front for structured inputs; reads past the end give zeros, so every
/// input is valid.
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  /// An integer in [lo, hi].
  int in(int lo, int hi) {
    unsigned v = byte();
    if (hi - lo > 255) v = v << 8 | byte();
    return lo + static_cast<int>(v % static_cast<unsigned>(hi - lo + 1));
  }
  bool flag() { return byte() & 1; }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  /// The unread bytes as text.
  std::string rest() {
    std::string s(reinterpret_cast<const char*>(p_), left());
    p_ = end_;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace fuzz
