// The inner communicator cache (inner.hpp).
#include "mpi/inner.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "mpi/finalize.hpp"
#include "mpi/world.hpp"
#include "mpinit/error.hpp"

namespace mpinit::detail {
namespace {

// The value cached on a caller's communicator.
struct Inner {
  MPI_Comm outer;
  MPI_Comm comm;
};

// Held only for the bookkeeping, never across a collective (two ranks could each hold it in a
// collective the other has not reached).
std::mutex mu;
int inner_keyval = MPI_KEYVAL_INVALID;  // on a caller's communicator: its Inner
int own_keyval = MPI_KEYVAL_INVALID;    // on mpinit's own communicators (no value)
std::vector<Inner*> cached;             // what MPI_Finalize must still free

// The keyval's delete callback: the caller freed its communicator (or MPI_Finalize came).
int delete_inner(MPI_Comm, int, void* value, void*) {
  auto* in = static_cast<Inner*>(value);
  {
    std::lock_guard<std::mutex> lock(mu);
    cached.erase(std::remove(cached.begin(), cached.end(), in), cached.end());
  }
  MPI_Comm comm = in->comm;
  delete in;
  return MPI_Comm_free(&comm);
}

// At MPI_Finalize: the duplicates of communicators never freed, then the keyvals.
void release_cache() {
  std::vector<Inner*> left;
  int inner = MPI_KEYVAL_INVALID, own = MPI_KEYVAL_INVALID;
  {
    std::lock_guard<std::mutex> lock(mu);
    left = cached;
    inner = inner_keyval, own = own_keyval;
    inner_keyval = own_keyval = MPI_KEYVAL_INVALID;
  }
  for (Inner* in : left) MPI_Comm_delete_attr(in->outer, inner);  // runs delete_inner
  if (inner != MPI_KEYVAL_INVALID) MPI_Comm_free_keyval(&inner);
  if (own != MPI_KEYVAL_INVALID) MPI_Comm_free_keyval(&own);
}

// The two keyvals, made on first use (the copy callbacks copy nothing: a duplicate made by
// MPI_Comm_dup of a caller's communicator has no inner communicator yet, and is not mpinit's).
void keyvals(int& inner, int& own) {
  std::lock_guard<std::mutex> lock(mu);
  if (inner_keyval == MPI_KEYVAL_INVALID) {
    int i = MPI_KEYVAL_INVALID, o = MPI_KEYVAL_INVALID;
    check_mpi(MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &delete_inner, &i, nullptr),
              "MPI_Comm_create_keyval(inner communicator)");
    int rc = MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, MPI_COMM_NULL_DELETE_FN, &o, nullptr);
    if (rc == MPI_SUCCESS) {
      try {
        at_finalize(&release_cache);
      } catch (...) {
        MPI_Comm_free_keyval(&i);
        MPI_Comm_free_keyval(&o);
        throw;
      }
    } else {
      MPI_Comm_free_keyval(&i);
    }
    check_mpi(rc, "MPI_Comm_create_keyval(mpinit's communicators)");
    inner_keyval = i, own_keyval = o;
  }
  inner = inner_keyval, own = own_keyval;
}

}  // namespace

void mark_own(MPI_Comm comm) {
  int inner = 0, own = 0;
  keyvals(inner, own);
  check_mpi(MPI_Comm_set_attr(comm, own, nullptr), "MPI_Comm_set_attr(mpinit's communicator)");
}

MPI_Comm inner_comm(MPI_Comm user) {
  if (user == MPI_COMM_NULL)
    throw Error(Errc::invalid_setting, "mpinit was given MPI_COMM_NULL where it needs a communicator");
  int inner = 0, own = 0;
  keyvals(inner, own);
  void* value = nullptr;
  int found = 0;
  check_mpi(MPI_Comm_get_attr(user, own, &value, &found), "MPI_Comm_get_attr(mpinit's communicator)");
  if (found) return user;
  check_mpi(MPI_Comm_get_attr(user, inner, &value, &found), "MPI_Comm_get_attr(inner communicator)");
  if (found) return static_cast<Inner*>(value)->comm;

  auto in = std::make_unique<Inner>(Inner{user, MPI_COMM_NULL});
  check_mpi(MPI_Comm_dup(user, &in->comm), "MPI_Comm_dup(mpinit's duplicate of the caller's communicator)");
  int rc = MPI_Comm_set_errhandler(in->comm, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_attr(in->comm, own, nullptr);
  if (rc == MPI_SUCCESS) {
    {
      std::lock_guard<std::mutex> lock(mu);
      cached.push_back(in.get());
    }
    rc = MPI_Comm_set_attr(user, inner, in.get());
    if (rc != MPI_SUCCESS) {
      std::lock_guard<std::mutex> lock(mu);
      cached.erase(std::remove(cached.begin(), cached.end(), in.get()), cached.end());
    }
  }
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&in->comm);
    check_mpi(rc, "MPI_Comm_set_attr(inner communicator)");
  }
  return in.release()->comm;
}

}  // namespace mpinit::detail
