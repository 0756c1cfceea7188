// The gpu suite: what needs a real GPU. Every test skips cleanly where CUDA sees no device
// (no GPU, or no driver), so the suite runs everywhere and proves something only where it can.
// Run as a singleton or under `mpirun -np 1` (one rank per GPU).
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <cctype>
#include <string>
#include <vector>

#include "mpinit/mpinit.hpp"

using namespace mpinit;

namespace {

int cuda_devices() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

// NCCL's profiling interface, as MPI's PMPI: every ncclX has a pncclX twin. These definitions
// take the place of NCCL's, for libmpinit too, and count how communicators end.
std::atomic<int> finalizes{0}, destroys{0}, aborts{0};

void reset_teardown_counts() { finalizes = destroys = aborts = 0; }

}  // namespace

extern "C" {
ncclResult_t ncclCommFinalize(ncclComm_t c) {
  ++finalizes;
  return pncclCommFinalize(c);
}
ncclResult_t ncclCommDestroy(ncclComm_t c) {
  ++destroys;
  return pncclCommDestroy(c);
}
ncclResult_t ncclCommAbort(ncclComm_t c) {
  ++aborts;
  return pncclCommAbort(c);
}
}

namespace {

#define REQUIRE_GPU()                                                                   \
  do {                                                                                  \
    if (cuda_devices() <= 0) GTEST_SKIP() << "no CUDA device visible (no GPU or driver)"; \
  } while (0)

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

TEST(Gpu, LivePlacementFindsCudaDevicesAndSelectsThePlannedOne) {
  REQUIRE_GPU();
  auto s = launch();
  ASSERT_NE(s.topology(), nullptr);
  ASSERT_FALSE(s.topology()->gpus.empty()) << "hwloc found no GPU on a machine where CUDA sees "
                                           << cuda_devices();
  ASSERT_NE(s.plan(), nullptr);
  ASSERT_FALSE(s.plan()->gpus.empty());
  const Gpu& g = s.topology()->gpus[s.plan()->gpus[0]];
  // The device CUDA now uses is the planned one, by PCI bus id.
  int dev = -1;
  ASSERT_EQ(cudaGetDevice(&dev), cudaSuccess);
  char busid[32] = {};
  ASSERT_EQ(cudaDeviceGetPCIBusId(busid, sizeof busid, dev), cudaSuccess);
  EXPECT_EQ(lower(busid), lower(g.loc.busid)) << s.applied();
  EXPECT_NE(s.applied().find("cudaSetDevice(" + std::to_string(dev) + ")"), std::string::npos) << s.applied();
  std::printf("[gpu] planned %s (%s), applied: %s\n", g.name.c_str(), g.loc.busid.c_str(), s.applied().c_str());
}

TEST(Gpu, NcclCommunicatorAllreduceIsChecked) {
  REQUIRE_GPU();
  auto s = launch();
  NcclComm& c = s.nccl();
  ASSERT_TRUE(c);
  int size = 0;
  MPI_Comm_size(s.comm(), &size);
  EXPECT_EQ(c.size(), size);
  EXPECT_EQ(c.rank(), s.identity().rank);
  const int n = 1 << 20;
  std::vector<float> host(n);
  for (int i = 0; i < n; ++i) host[i] = static_cast<float>(i % 97) + c.rank();
  float* buf = nullptr;
  ASSERT_EQ(cudaMalloc(&buf, n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(buf, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  cudaStream_t stream;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  ncclResult_t rc = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, c.get(), stream);
  // Non-blocking communicator: the call may return ncclInProgress; wait() until it is enqueued.
  ASSERT_TRUE(rc == ncclSuccess || rc == ncclInProgress) << ncclGetErrorString(rc);
  c.wait(60);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  c.check();
  ASSERT_EQ(cudaMemcpy(host.data(), buf, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  const float ranks_sum = size * (size - 1) / 2.0f;
  int wrong = 0;
  for (int i = 0; i < n; ++i) wrong += host[i] != size * static_cast<float>(i % 97) + ranks_sum;
  EXPECT_EQ(wrong, 0);
  cudaFree(buf);
  cudaStreamDestroy(stream);
}

TEST(Gpu, NonBlockingInitSplitAndTeardown) {
  REQUIRE_GPU();
  auto s = launch();
  NcclOptions o;
  o.timeout_s = 60;
  NcclComm c = nccl_comm_for(s.comm(), o);
  ASSERT_TRUE(c);
  ncclResult_t st = ncclInProgress;
  ASSERT_EQ(ncclCommGetAsyncError(c.get(), &st), ncclSuccess);
  EXPECT_EQ(st, ncclSuccess);  // ready when nccl_comm_for returned
  NcclComm half = nccl_split(c, s.comm(), 0, c.rank(), o);
  ASSERT_TRUE(half);
  EXPECT_EQ(half.size(), c.size());
  // Scalable init with one root per rank takes the ncclCommInitRankScalable path.
  o.ranks_per_root = 1;
  NcclComm scalable = nccl_comm_for(s.comm(), o);
  EXPECT_TRUE(scalable);
}

TEST(Gpu, TeardownFinalizesAndDestroysHealthyCommunicators) {
  // Non-blocking communicators: ncclCommFinalize returns ncclInProgress; the destructor must
  // wait for them to quiesce and destroy them, not abort them.
  REQUIRE_GPU();
  auto s = launch();
  NcclOptions o;
  o.timeout_s = 60;
  reset_teardown_counts();
  {
    NcclComm c = nccl_comm_for(s.comm(), o);
    ASSERT_TRUE(c);
    NcclComm half = nccl_split(c, s.comm(), 0, c.rank(), o);
    ASSERT_TRUE(half);
    // One collective first, so that the finalize has something to flush.
    float* buf = nullptr;
    ASSERT_EQ(cudaMalloc(&buf, 1024 * sizeof(float)), cudaSuccess);
    ncclResult_t rc = ncclAllReduce(buf, buf, 1024, ncclFloat, ncclSum, c.get(), nullptr);
    ASSERT_TRUE(rc == ncclSuccess || rc == ncclInProgress) << ncclGetErrorString(rc);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    cudaFree(buf);
  }
  EXPECT_EQ(finalizes.load(), 2);
  EXPECT_EQ(destroys.load(), 2);
  EXPECT_EQ(aborts.load(), 0);
  // Move-assigning over a live communicator ends that one (once, cleanly) and keeps the other.
  reset_teardown_counts();
  {
    NcclComm a = nccl_comm_for(s.comm(), o);
    NcclComm b = nccl_comm_for(s.comm(), o);
    ASSERT_TRUE(a && b);
    nccl_comm_t kept = b.get();
    a = std::move(b);
    EXPECT_EQ(destroys.load(), 1);
    EXPECT_EQ(a.get(), kept);
    EXPECT_FALSE(b);
    a.check();
  }
  EXPECT_EQ(finalizes.load(), 2);
  EXPECT_EQ(destroys.load(), 2);
  EXPECT_EQ(aborts.load(), 0);
  // An explicit abort is an abort, without a finalize.
  reset_teardown_counts();
  {
    NcclComm c = nccl_comm_for(s.comm(), o);
    c.abort();
  }
  EXPECT_EQ(finalizes.load(), 0);
  EXPECT_EQ(destroys.load(), 0);
  EXPECT_EQ(aborts.load(), 1);
}
