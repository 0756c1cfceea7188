// Shared by the fuzz targets of Slurm's lists (hostlist, tasks_per_node, env): what
// expand_hostlist and decode_tasks_per_node make of a string, worked out without building the
// result (the grammar and bounds of lib/env/hostlist.cpp), and a deterministic choice of which
// costly inputs to test while fuzzing.
//
// Why: the instrumented expansion costs about 0.3 us per host, so a list of 2^20 hosts (the
// library's bound, which the fuzzer reaches within seconds and then keeps in its corpus) costs
// 300-800 ms, and a repeat count near the bound about a millisecond. Such inputs held fuzz_hostlist
// under 500 and fuzz_env at 509 executions per second (fuzz_env also near its 2 GB memory limit),
// and took fuzz_tasks_per_node from 18,000 down to 1,900 in a long run. `costly_skip` lets a
// target test an input whose expansion would build more than `budget` entries for a share of
// about budget/work of such inputs, chosen by a hash of the input, so that every input class is
// still reached, a finding replays, and the large expansions cost about as much as the rest. The
// replay build (replay.cpp) tests every input in full, and regressions/hostlist/ and
// regressions/tasks_per_node/ hold inputs at the bounds, replayed on every build.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "fuzz.hpp"

namespace fuzz {

namespace lists_detail {

constexpr uint64_t kMaxEntries = uint64_t{1} << 20;  // lib/env/hostlist.cpp's bounds
constexpr uint64_t kMaxChars = uint64_t{64} << 20;

inline bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

inline uint64_t digits(uint64_t v) {
  uint64_t d = 1;
  while (v >= 10) v /= 10, ++d;
  return d;
}

// Total length of the numbers a..b printed with at least `width` digits.
inline uint64_t printed_length(uint64_t a, uint64_t b, uint64_t width) {
  uint64_t total = 0, lo = a;
  while (true) {
    const uint64_t d = digits(lo);
    uint64_t top = 1;  // 10^d
    for (uint64_t k = 0; k < d; ++k) top *= 10;
    const uint64_t hi = std::min(b, top - 1);
    total += (hi - lo + 1) * std::max(d, width);
    if (hi == b) return total;
    lo = hi + 1;
  }
}

}  // namespace lists_detail

/// What expand_hostlist makes of a list: whether it accepts it, how many hosts, and `work`, about
/// how many host strings it builds before it returns or throws, plus one for every 256
/// characters it writes into them (long names cost as much as many hosts: 2^10 hosts of 4000
/// characters, say).
struct HostlistModel {
  bool accepted = false;
  uint64_t hosts = 0, work = 0;

  explicit HostlistModel(const std::string& list) {
    accepted = run(list);
    work += written_ / 256;
  }

 private:
  bool run(const std::string& list) {
    using namespace lists_detail;
    if (list.empty()) return false;
    uint64_t chars = 0;
    size_t i = 0;
    while (true) {
      uint64_t partial = 1, partial_chars = 0;
      bool any = false;
      while (i < list.size() && list[i] != ',') {
        if (list[i] == '[') {
          const size_t close = list.find(']', i);
          if (close == std::string::npos) return false;
          const std::string group = list.substr(i + 1, close - i - 1);
          if (group.find('[') != std::string::npos || group.empty()) return false;
          uint64_t nums = 0, num_chars = 0;
          for (size_t pos = 0;;) {
            const size_t comma = group.find(',', pos);
            const std::string item = group.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
            const size_t dash = item.find('-');
            const std::string lo = item.substr(0, dash), hi = dash == std::string::npos ? lo : item.substr(dash + 1);
            if (!all_digits(lo) || !all_digits(hi)) return false;
            const uint64_t a = std::stoull(lo), b = std::stoull(hi);
            if (a > b || b - a >= kMaxEntries) return false;
            if (nums + (b - a + 1) > kMaxEntries) {  // throws at number 2^20 + 1 of the group
              work += kMaxEntries + 1 - nums;
              return false;
            }
            nums += b - a + 1, work += b - a + 1;
            num_chars += printed_length(a, b, lo.size());
            if (comma == std::string::npos) break;
            pos = comma + 1;
          }
          if (partial * nums > kMaxEntries) return false;
          const uint64_t next_chars = partial_chars * nums + num_chars * partial;
          chars += next_chars - partial_chars;
          if (chars > kMaxChars) return false;
          partial_chars = next_chars, partial *= nums, work += partial, written_ += next_chars;
          i = close + 1;
        } else if (list[i] == ']' || std::isspace(static_cast<unsigned char>(list[i]))) {
          return false;
        } else {
          chars += partial, partial_chars += partial;
          if (chars > kMaxChars) return false;
          written_ += partial;
          ++i;
        }
        any = true;
      }
      if (!any || hosts + partial > kMaxEntries) return false;
      hosts += partial, work += partial, written_ += partial_chars;
      if (i == list.size()) return true;
      if (++i == list.size()) return false;  // ends with a comma
    }
  }

  uint64_t written_ = 0;  // characters written into host names
};

/// What decode_tasks_per_node makes of a string: whether it accepts it, how many nodes, and
/// `work`, about how many nodes it writes before it returns or throws.
struct TasksModel {
  bool accepted = false;
  uint64_t nodes = 0, work = 0;

  explicit TasksModel(const std::string& spec) { accepted = run(spec); }

 private:
  bool run(const std::string& spec) {
    using namespace lists_detail;
    if (spec.empty()) return false;
    for (size_t pos = 0;;) {
      const size_t comma = spec.find(',', pos);
      const std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      std::string count = item, repeat = "1";
      const size_t paren = item.find('(');
      if (paren != std::string::npos) {
        if (item.size() < paren + 4 || item.compare(paren, 2, "(x") != 0 || item.back() != ')') return false;
        count = item.substr(0, paren), repeat = item.substr(paren + 2, item.size() - paren - 3);
      }
      if (!all_digits(count) || !all_digits(repeat)) return false;
      const uint64_t n = std::stoull(count), m = std::stoull(repeat);
      if (n == 0 || n > 0x7fffffff || m == 0 || m > kMaxEntries || nodes + m > kMaxEntries) return false;
      nodes += m, work += m;
      if (comma == std::string::npos) return true;
      pos = comma + 1;
    }
  }
};

/// Whether to leave out, while fuzzing, an input whose expansions build about `work` entries:
/// kept when work <= budget, else for a share of about budget/work (FNV-1a of `input`, so the
/// same in every run). Never under the replay build.
inline bool costly_skip(uint64_t work, uint64_t budget, const std::string& input) {
  if (replaying() || work <= budget) return false;
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : input) h = (h ^ c) * 1099511628211ull;
  return h % ((work + budget - 1) / budget) != 0;
}

}  // namespace fuzz
