// The finalize hook (finalize.hpp).
#include "mpi/finalize.hpp"

#include <mpi.h>

#include <mutex>
#include <vector>

#include "mpi/world.hpp"

namespace mpinit::detail {
namespace {

std::mutex hooks_mutex;
std::vector<void (*)()> hooks;
int self_keyval = MPI_KEYVAL_INVALID;

// The delete callback of the MPI_COMM_SELF attribute: MPI_Finalize calls it.
int run_hooks(MPI_Comm, int, void*, void*) {
  std::vector<void (*)()> todo;
  int keyval = MPI_KEYVAL_INVALID;
  {
    std::lock_guard<std::mutex> lock(hooks_mutex);
    todo.swap(hooks);
    keyval = self_keyval;
    self_keyval = MPI_KEYVAL_INVALID;
  }
  for (auto it = todo.rbegin(); it != todo.rend(); ++it) (*it)();
  // Marked for freeing now, freed by MPI once this attribute is gone.
  if (keyval != MPI_KEYVAL_INVALID) MPI_Comm_free_keyval(&keyval);
  return MPI_SUCCESS;
}

}  // namespace

void at_finalize(void (*hook)()) {
  std::lock_guard<std::mutex> lock(hooks_mutex);
  if (self_keyval == MPI_KEYVAL_INVALID) {
    int keyval = MPI_KEYVAL_INVALID;
    check_mpi(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &run_hooks, &keyval, nullptr),
              "MPI_Comm_create_keyval(finalize hook)");
    int rc = MPI_Comm_set_attr(MPI_COMM_SELF, keyval, nullptr);
    if (rc != MPI_SUCCESS) MPI_Comm_free_keyval(&keyval);
    check_mpi(rc, "MPI_Comm_set_attr(MPI_COMM_SELF, finalize hook)");
    self_keyval = keyval;
  }
  hooks.push_back(hook);
}

}  // namespace mpinit::detail
