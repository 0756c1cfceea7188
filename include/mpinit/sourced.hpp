// A value and where it came from.
#pragma once

#include <string>

namespace mpinit {
inline namespace v2 {

/// A value together with where it came from: a variable name ("SLURM_PROCID"), an MPI call
/// ("MPI_Comm_rank"), a flag ("--mpinit-seed"), "option" (set in code), or "default".
template <class T>
struct Sourced {
  T value{};
  std::string source;
};

}  // namespace v2
}  // namespace mpinit
