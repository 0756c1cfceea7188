// What the tool knows about the program it will become (exec, place).
#pragma once

#include <string>

namespace tool {

/// The program execv will run: argv0 itself if it has a '/', else the first executable in PATH.
/// Returns "" when found (its path in *out), else why not.
std::string find_program(const std::string& argv0, std::string* out);

/// The MPI library an ELF program needs directly (its DT_NEEDED entry naming libmpi*, libmpich*,
/// libmpifort*...), or "" when it needs none or is not an ELF file (a script, say).
std::string mpi_library_needed(const std::string& path);

}  // namespace tool
