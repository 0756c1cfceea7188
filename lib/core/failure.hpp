// The one "phase failed" message, agreed or raised alone. Internal.
#pragma once

#include <string>
#include <vector>

#include "mpinit/error.hpp"

namespace mpinit::detail {

/// Makes Errors that every rank raises together (after an agreement): Error::agreed() is true.
struct ErrorAccess {
  static Error agreed(Error e);
};

/// How many agreed Errors are alive in this process (an agreed Error in flight is one of them).
int agreed_errors_alive() noexcept;
void count_agreed(bool agreed, int delta) noexcept;

/// The suffix every failure's cause ends with: " (raised by mpinit::launch on rank R, HOST)".
std::string raised_on(const std::string& rank, const std::string& host);

/// "mpinit: phase 'P' failed: CAUSE" when `size` is 0 (one rank's own failure), else
/// "mpinit: phase 'P' failed on F of S ranks (ranks a, b and k more): CAUSE", where `ranks` are
/// the lowest failing ranks and `failed` how many failed in all.
std::string phase_failed(const std::string& phase, const std::string& cause, int failed = 0, int size = 0,
                         const std::vector<int>& ranks = {});

/// The Error of a phase that failed on this rank with no MPI to agree over (env-only mode, or
/// before MPI is up): phase_failed(phase, cause + raised_on(rank, host)), one failed rank.
Error lone_failure(Errc code, const std::string& phase, const std::string& cause, const std::string& rank,
                   const std::string& host);

}  // namespace mpinit::detail
