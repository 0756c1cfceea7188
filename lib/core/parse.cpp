// Strict integer parsing (parse.hpp).
#include "core/parse.hpp"

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

namespace mpinit::detail {

int parse_int(const std::string& name, const std::string& value, long min, long max, Errc code) {
  const std::string head = name + "='" + value + "' ";
  const char* s = value.c_str();
  if (value.empty() || std::isspace(static_cast<unsigned char>(s[0])) || s[0] == '+')
    throw Error(code, head + "is not an integer");
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (end == s || *end != '\0') throw Error(code, head + "is not an integer");
  if (errno == ERANGE || v > INT_MAX || v < INT_MIN)
    throw Error(code, head + "is out of range (must be between " + std::to_string(min) + " and " +
                          std::to_string(max) + ")");
  if (v < min) {
    if (min == 0) throw Error(code, head + "is negative (must be >= 0)");
    throw Error(code, head + "is too small (must be >= " + std::to_string(min) + ")");
  }
  if (v > max) throw Error(code, head + "is too large (must be <= " + std::to_string(max) + ")");
  return static_cast<int>(v);
}

}  // namespace mpinit::detail
