// The program exec and place become: found in PATH, and told apart when it is an MPI program.
#include "program.hpp"

#include <elf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace tool {

std::string find_program(const std::string& argv0, std::string* out) {
  if (argv0.empty()) return "no program given (-- PROGRAM [ARGS...])";
  if (argv0.find('/') != std::string::npos) {
    if (access(argv0.c_str(), X_OK) == 0) return *out = argv0, "";
    return "the program '" + argv0 + "' cannot be run: " + std::strerror(errno);
  }
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    std::string cand = (dir.empty() ? "." : dir) + "/" + argv0;
    if (access(cand.c_str(), X_OK) == 0) return *out = cand, "";
    start = end + 1;
  }
  return "the program '" + argv0 + "' is not in PATH";
}

std::string mpi_library_needed(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (f.size() < sizeof(Elf64_Ehdr) || std::memcmp(f.data(), ELFMAG, SELFMAG) != 0 || f[EI_CLASS] != ELFCLASS64)
    return "";
  auto at = [&](size_t off, size_t len) { return off <= f.size() && len <= f.size() - off; };
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  std::vector<Elf64_Phdr> ph;
  for (int i = 0; i < eh.e_phnum; ++i) {
    const size_t off = eh.e_phoff + static_cast<size_t>(i) * eh.e_phentsize;
    if (!at(off, sizeof(Elf64_Phdr))) return "";
    Elf64_Phdr p;
    std::memcpy(&p, f.data() + off, sizeof p);
    ph.push_back(p);
  }
  // Dynamic-section addresses are virtual: map them to file offsets through the loaded segments.
  auto offset_of = [&](Elf64_Addr addr) -> size_t {
    for (const auto& p : ph)
      if (p.p_type == PT_LOAD && addr >= p.p_vaddr && addr < p.p_vaddr + p.p_filesz) return p.p_offset + (addr - p.p_vaddr);
    return static_cast<size_t>(-1);
  };
  for (const auto& p : ph) {
    if (p.p_type != PT_DYNAMIC) continue;
    std::vector<Elf64_Dyn> dyn;
    Elf64_Addr strtab = 0;
    for (size_t off = p.p_offset; at(off, sizeof(Elf64_Dyn)) && off < p.p_offset + p.p_filesz; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, f.data() + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_STRTAB) strtab = d.d_un.d_ptr;
      dyn.push_back(d);
    }
    const size_t str = offset_of(strtab);
    if (str == static_cast<size_t>(-1)) return "";
    for (const auto& d : dyn) {
      if (d.d_tag != DT_NEEDED || !at(str + d.d_un.d_val, 1)) continue;
      const char* name = f.data() + str + d.d_un.d_val;
      const std::string lib(name, strnlen(name, f.size() - str - d.d_un.d_val));
      for (const char* mpi : {"libmpi.", "libmpi_", "libmpich", "libmpifort", "libmpicxx", "libmpi_mpifh"})
        if (lib.rfind(mpi, 0) == 0) return lib;
    }
  }
  return "";
}

}  // namespace tool
