// An exception on one rank while the others wait in a collective (docs/reliability.md, "A rank
// that unwinds alone"). The program owns MPI through mpinit::launch and catches everything, as an
// application's main() does:
//   lone_exception lone               rank LONE_RANK (default 1) throws std::runtime_error after
//                                     launch(); the others wait in MPI_Barrier(s.comm())
//   lone_exception agreed             rank LONE_RANK fails Session::agree: every rank throws the same
//                                     agreed mpinit::Error, and MPI is finalized on every rank
//   lone_exception lone_after_agreed  an agreed Error is caught and handled first, then as `lone`
// After the session has ended each rank writes "rank R: caught: WHAT; MPI finalized: 0|1" on stdout
// and exits 1 (0 for the ranks that did not throw).
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mpinit/mpinit.hpp"

namespace {

void say(const std::string& s) {
  std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::perror("write");
}

int lone_rank() {
  const char* v = std::getenv("LONE_RANK");
  return v ? std::atoi(v) : 1;
}

void work(const mpinit::Session& s, const std::string& mode) {
  const int rank = s.identity().rank;
  if (mode == "agreed") {
    s.agree("work", rank == lone_rank() ? "this rank's input is bad" : "");
    return;
  }
  if (mode == "lone_after_agreed") {
    try {
      s.agree("work", rank == lone_rank() ? "this rank's input is bad" : "");
    } catch (const mpinit::Error& e) {
      if (!e.agreed()) throw std::logic_error("Session::agree's Error is not marked agreed");
    }
  }
  if (rank == lone_rank()) throw std::runtime_error("work failed on rank " + std::to_string(rank) + " only");
  MPI_Barrier(s.comm());  // waits for the rank that threw: for ever, unless the job ends
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "lone";
  int rank = -1;
  std::string caught;
  try {
    auto s = mpinit::launch(argc, argv);
    rank = s.identity().rank;
    if (!s.owns_mpi()) throw std::logic_error("the session does not own MPI");
    work(s, mode);
  } catch (const std::exception& e) {
    caught = e.what();
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  say("rank " + std::to_string(rank) + ": caught: " + (caught.empty() ? "nothing" : caught) +
      "; MPI finalized: " + std::to_string(finalized));
  return caught.empty() ? 0 : 1;
}
