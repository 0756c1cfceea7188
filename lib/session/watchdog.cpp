// The launch watchdog (watchdog.hpp).
#include "session/watchdog.hpp"

#include "node/share.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace mpinit::detail {

using Clock = std::chrono::steady_clock;

Watchdog::Watchdog(int seconds, std::string setting, std::string rank, std::string host)
    : seconds_(seconds), setting_(std::move(setting)), env_rank_(std::move(rank)), host_(std::move(host)) {
  if (seconds_ > 0) thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(m_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::set_share(std::string dir) {
  std::lock_guard<std::mutex> lock(m_);
  share_ = std::move(dir);
}

void Watchdog::mpi_up(MPI_Comm comm, bool multiple) noexcept {
  comm_ = comm;
  multiple_ = multiple;
  mpi_up_.store(true);
}

std::string Watchdog::message(const std::string& setting, const char* phase, const std::string& rank,
                              const std::string& host, double waited_s) {
  char waited[32];
  std::snprintf(waited, sizeof waited, "%.0f", waited_s);
  return "mpinit: launch did not finish within " + setting + ": this rank waited " + waited + " s in phase '" +
         phase +
         "' for ranks that have not arrived (slow to start, stopped, or exited without MPI_Finalize); it ends "
         "with exit status " +
         std::to_string(kExitStatus) + " (raised by mpinit::launch on rank " + rank + ", " + host + ")";
}

void Watchdog::run() {
  const auto start = Clock::now();
  std::unique_lock<std::mutex> lock(m_);
  if (cv_.wait_until(lock, start + std::chrono::seconds(seconds_), [this] { return done_; })) return;
  lock.unlock();
  expire();
}

void Watchdog::expire() {
  {
    std::lock_guard<std::mutex> lock(m_);  // held by the main thread only for a moment
    remove_share(share_);
  }
  const int r = rank_.load();
  const std::string line =
      message(setting_, phase_.load(), r >= 0 ? std::to_string(r) : env_rank_, host_, seconds_) + "\n";
  // No stdio here (no fflush(stdout)): the stalled main thread may hold the stream's lock, and
  // waiting for it would disable the watchdog. What the program left in stdout's buffer is lost
  // with the process, as with any _exit.
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(2, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  // The other waiting ranks started at about the same time: let them say so too before this
  // rank's exit (or its MPI_Abort) makes the launcher end them.
  std::this_thread::sleep_for(std::chrono::milliseconds(std::min(seconds_, 2) * 1000));
  if (mpi_up_.load() && multiple_) {
    // MPI_THREAD_MULTIPLE: this thread may call MPI while the main thread is inside it. Should
    // MPI_Abort not return, the process still ends.
    std::thread([] {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      ::_exit(kExitStatus);
    }).detach();
    MPI_Abort(comm_, kExitStatus);
  }
  ::_exit(kExitStatus);
}

}  // namespace mpinit::detail
