// gtest under mpirun: every rank runs every test in the same order. Failures are printed by the
// rank that saw them, tagged [rank r/size]; after each test the ranks agree on its outcome and
// rank 0 names the failing ranks; only rank 0 prints the usual report and writes XML; every
// rank exits non-zero when any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <string>

namespace {

class RankListener : public testing::EmptyTestEventListener {
 public:
  RankListener(int rank, int size) : rank_(rank), size_(size) {}

  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::string line = "[rank " + std::to_string(rank_) + "/" + std::to_string(size_) + "] " +
                       (r.file_name() ? r.file_name() : "?") + ":" + std::to_string(r.line_number()) + ": " +
                       r.message() + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    int failed = info.result()->Failed() ? 1 : 0;
    int count = 0, first = failed ? rank_ : size_;
    MPI_Allreduce(&failed, &count, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (count > 0) {
      any_failed_ = true;
      if (rank_ == 0)
        std::fprintf(stderr, "[  FAILED  ] %s.%s failed on %d of %d ranks (first: rank %d)\n",
                     info.test_suite_name(), info.name(), count, size_, first);
    }
  }

  bool any_failed() const { return any_failed_; }

 private:
  int rank_, size_;
  bool any_failed_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  testing::InitGoogleTest(&argc, argv);
  auto& listeners = testing::UnitTest::GetInstance()->listeners();
  if (rank != 0) {
    delete listeners.Release(listeners.default_result_printer());
    GTEST_FLAG_SET(output, "");
  }
  auto* mine = new RankListener(rank, size);
  listeners.Append(mine);
  int local = RUN_ALL_TESTS() != 0 || mine->any_failed() ? 1 : 0, global = 0;
  MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
#ifdef MPITEST_ALL_SKIPPED_IS_77
  // Tell meson the suite was skipped (exit 77) when it ran nothing but skips.
  const auto* unit = testing::UnitTest::GetInstance();
  if (global == 0 && unit->test_to_run_count() > 0 && unit->skipped_test_count() == unit->test_to_run_count())
    return 77;
#endif
  return global;
}
