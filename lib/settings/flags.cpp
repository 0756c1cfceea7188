// The --mpinit-* flags of a command line.
#include <cctype>
#include <string>
#include <vector>

#include "mpinit/error.hpp"
#include "mpinit/settings.hpp"

namespace mpinit {
inline namespace v2 {

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

}  // namespace v2
}  // namespace mpinit
