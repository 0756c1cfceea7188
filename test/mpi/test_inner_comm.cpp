// mpinit's traffic never runs on a caller's communicator: it runs on a private duplicate cached on
// it (detail::inner_comm). Run under mpirun with the PMPI layer test/pmpi/mpitrace preloaded
// (test/pmpi/with-mpitrace.sh), which records the communicator of every MPI call; the tests ask
// it, in this process, which calls ran where. Without the layer every test fails.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <mpi.h>

#include <set>
#include <sstream>
#include <string>

#include "mpi/inner.hpp"
#include "mpi_test_util.hpp"
#include "mpinit/mpinit.hpp"

using namespace mpinit;

namespace {

using mpitest::same_everywhere;
using mpitest::world_rank;
using mpitest::world_size;

// The layer's queries (test/pmpi/mpitrace.cpp).
struct Trace {
  void (*reset)() = nullptr;
  long (*calls_on)(MPI_Comm, char*, int) = nullptr;
  long (*count)(const char*, MPI_Comm) = nullptr;
  MPI_Comm (*last_dup_of)(MPI_Comm) = nullptr;

  static const Trace& get() {
    static Trace t = [] {
      Trace t;
      t.reset = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "mpitrace_reset"));
      t.calls_on = reinterpret_cast<long (*)(MPI_Comm, char*, int)>(dlsym(RTLD_DEFAULT, "mpitrace_calls_on"));
      t.count = reinterpret_cast<long (*)(const char*, MPI_Comm)>(dlsym(RTLD_DEFAULT, "mpitrace_count"));
      t.last_dup_of = reinterpret_cast<MPI_Comm (*)(MPI_Comm)>(dlsym(RTLD_DEFAULT, "mpitrace_last_dup_of"));
      return t;
    }();
    return t;
  }
  bool loaded() const { return reset && calls_on && count && last_dup_of; }

  // The names of the calls recorded on `c` since the last reset.
  std::multiset<std::string> on(MPI_Comm c) const {
    std::string buf(1 << 16, '\0');
    calls_on(c, buf.data(), static_cast<int>(buf.size()));
    std::istringstream in(buf.c_str());
    std::multiset<std::string> names;
    for (std::string w; in >> w;) names.insert(w);
    return names;
  }
  // How many collectives (anything but the local calls) were recorded on `c`.
  long collectives_on(MPI_Comm c) const {
    long n = 0;
    for (const auto& name : on(c))
      if (name != "MPI_Comm_rank" && name != "MPI_Comm_size" && name.rfind("MPI_Comm_", 0) != 0) ++n;
    return n;
  }
};

#define REQUIRE_TRACE()                                                                         \
  const Trace& trace = Trace::get();                                                            \
  ASSERT_TRUE(trace.loaded()) << "the PMPI layer mpitrace is not preloaded: run this binary as " \
                                 "`mpiexec -np N sh test/pmpi/with-mpitrace.sh libmpitrace.so mpi_inner_comm_tests`"

// The only calls mpinit may make on a caller's communicator.
void expect_only_dup_and_attributes(const Trace& trace, MPI_Comm user) {
  for (const auto& name : trace.on(user))
    EXPECT_TRUE(name == "MPI_Comm_dup" || name == "MPI_Comm_get_attr" || name == "MPI_Comm_set_attr")
        << name << " ran on the caller's communicator";
}

// A communicator of the caller: the world split in two by parity (odd world sizes give halves of
// different sizes), with the default error handler.
MPI_Comm callers_half() {
  MPI_Comm half = MPI_COMM_NULL;
  MPI_Comm_split(MPI_COMM_WORLD, world_rank() % 2, world_rank(), &half);
  return half;
}

bool is_errors_are_fatal(MPI_Comm c) {
  MPI_Errhandler eh;
  MPI_Comm_get_errhandler(c, &eh);
  bool fatal = eh == MPI_ERRORS_ARE_FATAL;
  MPI_Errhandler_free(&eh);
  return fatal;
}

bool is_errors_return(MPI_Comm c) {
  MPI_Errhandler eh;
  MPI_Comm_get_errhandler(c, &eh);
  bool ret = eh == MPI_ERRORS_RETURN;
  MPI_Errhandler_free(&eh);
  return ret;
}

}  // namespace

TEST(InnerComm, ADuplicateIsMadeOnceAndFreedWithTheCallersCommunicator) {
  REQUIRE_TRACE();
  MPI_Comm user = callers_half();
  trace.reset();
  MPI_Comm inner = detail::inner_comm(user);
  EXPECT_EQ(trace.count("MPI_Comm_dup", user), 1);
  EXPECT_EQ(trace.last_dup_of(user), inner);
  ASSERT_NE(inner, user);
  int cmp = MPI_UNEQUAL;
  MPI_Comm_compare(inner, user, &cmp);
  EXPECT_EQ(cmp, MPI_CONGRUENT);  // the same ranks in the same order, another context
  EXPECT_TRUE(is_errors_return(inner));
  EXPECT_TRUE(is_errors_are_fatal(user));  // the caller's error handler is the caller's
  expect_only_dup_and_attributes(trace, user);

  // A second call finds it, with no collective at all.
  trace.reset();
  EXPECT_EQ(detail::inner_comm(user), inner);
  EXPECT_EQ(trace.count("MPI_Comm_dup", user), 0);
  expect_only_dup_and_attributes(trace, user);
  // The duplicate is mpinit's own: asked for its inner communicator, it is that.
  EXPECT_EQ(detail::inner_comm(inner), inner);
  EXPECT_EQ(trace.count("MPI_Comm_dup", inner), 0);

  // The caller frees its communicator: the delete callback frees the duplicate.
  trace.reset();
  MPI_Comm_free(&user);
  EXPECT_EQ(trace.count("MPI_Comm_free", inner), 1);
}

TEST(InnerComm, ACallersDuplicateOfACachedCommunicatorGetsItsOwn) {
  REQUIRE_TRACE();
  MPI_Comm user = callers_half();
  MPI_Comm inner = detail::inner_comm(user);
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(user, &copy);  // the cached attribute is not copied
  trace.reset();
  MPI_Comm inner_of_copy = detail::inner_comm(copy);
  EXPECT_NE(inner_of_copy, inner);
  EXPECT_EQ(trace.count("MPI_Comm_dup", copy), 1);
  MPI_Comm_free(&copy);
  EXPECT_EQ(trace.count("MPI_Comm_free", inner_of_copy), 1);
  EXPECT_EQ(trace.count("MPI_Comm_free", inner), 0);
  MPI_Comm_free(&user);
}

TEST(InnerComm, TheSessionsOwnCommunicatorsAreNotDuplicated) {
  REQUIRE_TRACE();
  auto s = launch();
  trace.reset();
  EXPECT_EQ(detail::inner_comm(s.comm()), s.comm());
  EXPECT_EQ(detail::inner_comm(s.local_comm()), s.local_comm());
  EXPECT_EQ(trace.count("MPI_Comm_dup", s.comm()), 0);
  EXPECT_EQ(trace.count("MPI_Comm_dup", s.local_comm()), 0);
  // ...but a caller's duplicate of the session's communicator is the caller's.
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(s.comm(), &copy);
  EXPECT_NE(detail::inner_comm(copy), copy);
  MPI_Comm_free(&copy);
}

TEST(InnerComm, NullIsRefused) {
  try {
    detail::inner_comm(MPI_COMM_NULL);
    ADD_FAILURE() << "inner_comm accepted MPI_COMM_NULL";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_setting);
    EXPECT_NE(std::string(e.what()).find("MPI_COMM_NULL"), std::string::npos) << e.what();
  }
}

TEST(InnerComm, WorldIsDuplicatedOnceForTheWholeRun) {
  // MPI_COMM_WORLD is never freed: its duplicate is freed inside MPI_Finalize (the test runs
  // with MPITRACE_NO_LEAKED_COMMS=1, so a duplicate left over fails the run).
  REQUIRE_TRACE();
  trace.reset();
  MPI_Comm a = detail::inner_comm(MPI_COMM_WORLD);
  MPI_Comm b = detail::inner_comm(MPI_COMM_WORLD);
  EXPECT_EQ(a, b);
  EXPECT_LE(trace.count("MPI_Comm_dup", MPI_COMM_WORLD), 1);  // 0 when an earlier test made it
  expect_only_dup_and_attributes(trace, MPI_COMM_WORLD);
}

#if MPINIT_HAVE_NCCL

TEST(InnerComm, NcclForRunsItsCollectivesOnTheDuplicate) {
  // No GPU here: nccl_for fails in ncclCommInitRankConfig, after the id broadcast and before the
  // agreement, which both must run on the duplicate (with a GPU it succeeds; the same holds).
  REQUIRE_TRACE();
  auto s = launch();
  MPI_Comm user = callers_half();
  int user_size = 0;
  MPI_Comm_size(user, &user_size);
  trace.reset();
  std::string first;
  Errc code = Errc::internal;
  try {
    s.nccl_for(user);
  } catch (const Error& e) {
    first = e.what();
    code = e.code();
  }
  // What mpinit did (the test's own checks below make calls on `user` too).
  MPI_Comm inner = trace.last_dup_of(user);
  ASSERT_NE(inner, MPI_COMM_NULL) << "no duplicate of the caller's communicator was made";
  EXPECT_EQ(trace.count("MPI_Comm_dup", user), 1);
  expect_only_dup_and_attributes(trace, user);
  EXPECT_GE(trace.collectives_on(inner), first.empty() ? 2 : 3);  // the ids, the agreement (+ its cause)
  EXPECT_TRUE(is_errors_are_fatal(user));
  if (!first.empty()) {
    EXPECT_EQ(code, Errc::nccl) << first;
    EXPECT_NE(first.find("phase 'nccl' failed on " + std::to_string(user_size) + " of " + std::to_string(user_size)),
              std::string::npos)
        << first;
    EXPECT_TRUE(same_everywhere(first, user)) << first;
  }

  // Again: the same duplicate, no second MPI_Comm_dup.
  trace.reset();
  try {
    s.nccl_for(user);
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), first);
  }
  EXPECT_EQ(trace.count("MPI_Comm_dup", user), 0);
  expect_only_dup_and_attributes(trace, user);
  EXPECT_GE(trace.collectives_on(inner), 2);

  trace.reset();
  MPI_Comm_free(&user);
  EXPECT_EQ(trace.count("MPI_Comm_free", inner), 1);
}

TEST(InnerComm, UniqueIdsOnACallersCommunicator) {
  REQUIRE_TRACE();
  MPI_Comm user = callers_half();
  trace.reset();
  auto ids = nccl_unique_ids(user, 2);
  MPI_Comm inner = trace.last_dup_of(user);
  ASSERT_NE(inner, MPI_COMM_NULL);
  expect_only_dup_and_attributes(trace, user);
  EXPECT_GE(trace.collectives_on(inner), 1);
  std::string all;
  for (const auto& id : ids) all.append(id.data(), id.size());
  EXPECT_TRUE(same_everywhere(all, user));
  trace.reset();
  auto again = nccl_unique_ids(user, 2);
  EXPECT_EQ(trace.count("MPI_Comm_dup", user), 0);
  expect_only_dup_and_attributes(trace, user);
  MPI_Comm_free(&user);
}

TEST(InnerComm, TheSessionsNcclRunsOnTheSessionsCommunicator) {
  REQUIRE_TRACE();
  auto s = launch();
  trace.reset();
  try {
    s.nccl();
  } catch (const Error&) {
  }
  EXPECT_EQ(trace.count("MPI_Comm_dup", s.comm()), 0);
  EXPECT_GE(trace.collectives_on(s.comm()), 2);
}

#endif
