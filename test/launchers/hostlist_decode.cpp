// Decodes each argument as a Slurm host list with mpinit::expand_hostlist and prints one line per
// argument: "OK host host ..." or "ERROR message". Compared with `scontrol show hostnames`.
#include <iostream>
#include <string>

#include "mpinit/env.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    try {
      std::string line = "OK";
      for (const auto& h : mpinit::expand_hostlist(argv[i], "argument")) line += " " + h;
      std::cout << line << "\n";
    } catch (const mpinit::Error& e) {
      std::cout << "ERROR " << e.what() << "\n";
    }
  }
  return 0;
}
