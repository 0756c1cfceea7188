// Slurm host lists and tasks-per-node strings.
#include <cctype>
#include <string>
#include <vector>

#include "mpinit/env.hpp"

namespace mpinit {
inline namespace v2 {
namespace {

constexpr size_t kMaxHosts = size_t{1} << 20;  // a bound on expansion, so a typo cannot eat memory
constexpr size_t kMaxChars = size_t{64} << 20;  // and on the length of the names, for the same reason

[[noreturn]] void bad(const std::string& what, const std::string& value, const std::string& rule) {
  throw Error(Errc::invalid_environment, what + "='" + value + "' is not a valid host list: " + rule);
}

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// One bracket group "001,007-009" -> the zero-padded strings, in order.
std::vector<std::string> expand_group(const std::string& group, const std::string& what,
                                      const std::string& list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t comma = group.find(',', pos);
    std::string item = group.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = item.find('-');
    std::string lo = item.substr(0, dash);
    std::string hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi))
      bad(what, list, "'[" + group + "]' must hold numbers or ranges like 1,3-5 (got '" + item + "')");
    unsigned long long a = std::stoull(lo), b = std::stoull(hi);
    if (a > b) bad(what, list, "range '" + item + "' runs backwards");
    if (b - a >= kMaxHosts) bad(what, list, "range '" + item + "' is too large");
    for (unsigned long long v = a; v <= b; ++v) {
      std::string num = std::to_string(v);
      if (num.size() < lo.size()) num.insert(0, lo.size() - num.size(), '0');
      out.push_back(std::move(num));
      if (out.size() > kMaxHosts) bad(what, list, "expands to more than 2^20 hosts");
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_hostlist(const std::string& list, const std::string& what) {
  std::vector<std::string> hosts;
  if (list.empty()) bad(what, list, "it is empty");
  size_t i = 0, chars = 0;  // chars: the length of the names in `hosts` and `partial`
  auto grow = [&](size_t more) {
    chars += more;
    if (chars > kMaxChars) bad(what, list, "its host names add up to more than 64 MiB");
  };
  while (i <= list.size()) {
    // One host expression up to a comma outside brackets.
    std::vector<std::string> partial{""};
    size_t partial_chars = 0;
    bool any = false;
    while (i < list.size() && list[i] != ',') {
      if (list[i] == '[') {
        size_t close = list.find(']', i);
        if (close == std::string::npos) bad(what, list, "'[' at offset " + std::to_string(i) + " is never closed");
        std::string group = list.substr(i + 1, close - i - 1);
        if (group.find('[') != std::string::npos) bad(what, list, "brackets cannot nest");
        if (group.empty()) bad(what, list, "empty brackets at offset " + std::to_string(i));
        auto nums = expand_group(group, what, list);
        std::vector<std::string> next;
        if (partial.size() * nums.size() > kMaxHosts) bad(what, list, "expands to more than 2^20 hosts");
        size_t num_chars = 0;
        for (const auto& n : nums) num_chars += n.size();
        const size_t next_chars = partial_chars * nums.size() + num_chars * partial.size();
        grow(next_chars - partial_chars);
        partial_chars = next_chars;
        next.reserve(partial.size() * nums.size());
        for (const auto& p : partial)
          for (const auto& n : nums) next.push_back(p + n);
        partial.swap(next);
        i = close + 1;
      } else if (list[i] == ']') {
        bad(what, list, "']' at offset " + std::to_string(i) + " has no '['");
      } else if (std::isspace(static_cast<unsigned char>(list[i]))) {
        bad(what, list, "host names cannot contain white space");
      } else {
        grow(partial.size());
        partial_chars += partial.size();
        for (auto& p : partial) p += list[i];
        ++i;
      }
      any = true;
    }
    if (!any) bad(what, list, "empty host name at offset " + std::to_string(i));
    if (hosts.size() + partial.size() > kMaxHosts) bad(what, list, "expands to more than 2^20 hosts");
    hosts.insert(hosts.end(), partial.begin(), partial.end());
    if (i == list.size()) break;
    ++i;  // skip the comma
    if (i == list.size()) bad(what, list, "it ends with a comma");
  }
  return hosts;
}

std::vector<int> decode_tasks_per_node(const std::string& spec, const std::string& what) {
  auto fail = [&](const std::string& rule) -> void {
    throw Error(Errc::invalid_environment,
                what + "='" + spec + "' is not a valid tasks-per-node list: " + rule);
  };
  std::vector<int> out;
  if (spec.empty()) fail("it is empty");
  size_t pos = 0;
  while (true) {
    size_t comma = spec.find(',', pos);
    std::string item = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::string count = item, repeat = "1";
    size_t paren = item.find('(');
    if (paren != std::string::npos) {
      if (item.size() < paren + 4 || item.compare(paren, 2, "(x") != 0 || item.back() != ')')
        fail("'" + item + "' must look like N or N(xM)");
      count = item.substr(0, paren);
      repeat = item.substr(paren + 2, item.size() - paren - 3);
    }
    if (!all_digits(count) || !all_digits(repeat)) fail("'" + item + "' must look like N or N(xM)");
    unsigned long long n = std::stoull(count), m = std::stoull(repeat);
    if (n == 0 || n > 0x7fffffff) fail("task count '" + count + "' must be between 1 and 2^31-1");
    if (m == 0) fail("repeat count in '" + item + "' must be at least 1");
    if (m > kMaxHosts || out.size() + m > kMaxHosts) fail("it describes more than 2^20 nodes");
    out.insert(out.end(), m, static_cast<int>(n));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace v2
}  // namespace mpinit
