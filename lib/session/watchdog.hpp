// The launch watchdog (MPINIT_LAUNCH_TIMEOUT). Internal to the library.
//
// A rank that never arrives (slow to start, stopped, or exited without telling its launcher) leaves
// the others blocked inside MPI_Init or a collective, where no MPI call can be cancelled. A thread
// started with launch() waits for it to finish; past the deadline it writes one line naming the
// setting, the phase this rank waits in, the rank and the host, gives the other waiting ranks a
// moment to say the same, and ends the process with status 124, as timeout(1) does.
//
// The thread does only what MPI and the C library let a second thread do while the main thread
// may be blocked inside MPI or hold a stdio lock: write(2) and _exit(2), never stdio. It calls
// MPI_Abort only where MPI provides MPI_THREAD_MULTIPLE; otherwise the launcher ends the job on
// seeing a rank exit non-zero (mpirun by default, srun, hydra), and where it does not (mpirun
// with orte_abort_on_non_zero_status=0) each waiting rank's own watchdog ends that rank.
#pragma once

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mpinit::detail {

class Watchdog {
 public:
  /// Exit status of a rank whose launch timed out.
  static constexpr int kExitStatus = 124;

  /// `seconds` 0: no deadline and no thread. `setting` names the value and its source for the
  /// message ("MPINIT_LAUNCH_TIMEOUT=30"); `rank` is the launcher's rank until MPI says (or "?").
  Watchdog(int seconds, std::string setting, std::string rank, std::string host);
  /// Stops the thread (launch() finished or threw). Waits if it already fired: the process ends.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The phase this rank is in now (a string literal).
  void enter(const char* phase) noexcept { phase_.store(phase); }
  /// MPI is up. With `multiple` (MPI provides MPI_THREAD_MULTIPLE) MPI_Abort(comm) ends the job
  /// on expiry; without it no MPI call is made from the watchdog's thread.
  void mpi_up(MPI_Comm comm, bool multiple) noexcept;
  void set_rank(int rank) noexcept { rank_.store(rank); }
  /// The node share this rank leads ("" when none): removed on expiry, since the process ends
  /// without unwinding.
  void set_share(std::string dir);

  /// The line written on expiry (for tests and docs).
  static std::string message(const std::string& setting, const char* phase, const std::string& rank,
                             const std::string& host, double waited_s);

 private:
  void run();
  [[noreturn]] void expire();

  const int seconds_;
  const std::string setting_, env_rank_, host_;
  std::atomic<const char*> phase_{"settings"};
  std::atomic<int> rank_{-1};
  std::atomic<bool> mpi_up_{false};
  bool multiple_ = false;          // written before mpi_up_ is set, read after
  MPI_Comm comm_ = MPI_COMM_NULL;  // written before mpi_up_ is set, read after
  std::string share_;  // guarded by m_
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace mpinit::detail
