// Supervisor: the fail-fast loop over the running ranks. One poll() waits on every rank's stdout
// and stderr pipe and on a signalfd (SIGCHLD, SIGINT, SIGTERM); output is split into prefixed
// lines, exits are reaped as they happen. The first rank to exit non-zero or die of a signal ends
// the job: the others get SIGTERM, then SIGKILL after a grace period, and kolorun exits with that
// rank's code (128 + signal for a signal), after a summary naming that first rank, its host, pid,
// exit and last stderr lines. A job timeout exits 124, and so does a start timeout (ranks still
// running that never joined the store are named); a SIGINT/SIGTERM sent to kolorun is forwarded
// to every rank and kolorun exits 128 + that signal.
//
// Thread: the launcher's main thread, which must have SIGCHLD, SIGINT and SIGTERM blocked
// (blockSupervisorSignals) before the first rank is spawned, so no exit is missed.
#pragma once

#include <sys/types.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/base/job_abort.h"
#include "kolo/base/status.h"
#include "kolo/launcher/line_prefixer.h"
#include "kolo/launcher/rank_exit.h"
#include "kolo/launcher/rank_liveness.h"
#include "kolo/launcher/rank_spawner.h"

namespace kolo::launcher {

inline constexpr int kExitTimeout = 124;

struct SupervisorOptions {
  double timeoutSeconds = 0;      // whole-job limit; 0 means none
  double killGraceSeconds = 2.0;  // SIGTERM -> SIGKILL
  // After the last rank exits, how long to keep reading pipes a leftover grandchild still holds.
  double outputLingerSeconds = 1.0;
  int stdoutFd = 1;
  int stderrFd = 2;
  // Start timeout: when it passes, every still-running rank that joinedRanks() does not report
  // as joined is named and the job ends with kExitTimeout. 0 or no callback: no check.
  double startTimeoutSeconds = 0;
  std::function<std::vector<bool>()> joinedRanks;
  // --output-filename: each rank's raw stdout and stderr also go to DIR/rank.N/{stdout,stderr}.
  std::string outputDir;
  // --ranks-filter: only these ranks' output reaches kolorun's stdout/stderr (empty: all).
  // Filtered output still reaches the output files and the failure summary.
  std::set<int> ranksFilter;
  bool prefixTimestamp = false;
  // Elastic jobs: asked when a rank fails (launch rank, exit code as kolorun would report it).
  // true: the failure is reported and the job goes on without that rank; false or unset: the
  // job ends as usual.
  std::function<bool(int rank, int exitCode)> tolerateFailure;
  // Called about every tickSeconds while the job runs (elastic host discovery); it may add
  // ranks (addRank) and signal them (signalRank).
  std::function<void()> onTick;
  double tickSeconds = 0;
  // Fault handling (docs/RELIABILITY.md). Called once with the first failed rank, before any
  // other rank is signalled: kolorun writes it to the store, so every survivor fails its
  // pending and later ops naming that rank. The survivors then get `abortGraceSeconds` to
  // report and exit on their own before SIGTERM.
  std::function<void(const PeerFailure&)> publishFailure;
  double abortGraceSeconds = 2.0;
  // RankLiveness: a rank stopped this long has failed (code 128 + SIGSTOP).
  double stoppedGraceSeconds = 0.5;
  // Heartbeat counts of the ranks whose Kolo session is open (see RankLiveness); a count that
  // stands still for heartbeatTimeoutSeconds fails the rank. Unset or 0: not checked.
  std::function<std::map<int, int64_t>()> heartbeats;
  double heartbeatTimeoutSeconds = 0;
  // Live status (job_status.h): SIGUSR1 to kolorun calls onStatusRequest (the signal is never
  // forwarded and never ends the job); every chunk of rank stderr is shown to onRankStderr.
  std::function<void()> onStatusRequest;
  std::function<void(std::string_view text)> onRankStderr;
};

// Blocks the signals the supervisor reads through its signalfd and ignores SIGPIPE (a closed
// kolorun stdout must not kill the job). Call before spawning.
Status blockSupervisorSignals();

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Creates the signalfd. Call after blockSupervisorSignals().
  Status open();
  // Creates the per-rank output files of `outputDir` (if any). Call before addRank.
  Status prepareOutputFiles(int worldSize);
  // Takes ownership of the rank's pipes. `host` is named in the failure summary.
  // `overSsh`: the process is an ssh client running the rank on remote `host`.
  void addRank(const RankProcess& process, const std::string& host = "", bool overSsh = false);
  // Kills (SIGKILL) and reaps every rank added so far, without waiting for output; for when
  // spawning a later rank failed.
  void abortAll();
  // Sends `sig` to a running rank's process group; false when no such rank is running.
  bool signalRank(int rank, int sig);
  // Rank -> pid of the running ranks kolorun started on this host (not over ssh or srun).
  std::map<int, pid_t> localRanks() const;
  // Runs until every rank has exited and its output is written; returns kolorun's exit code.
  int run();

 private:
  struct Stream {
    int fd = -1;
    int outFd = -1;  // kolorun's stdout or stderr
    std::unique_ptr<LinePrefixer> prefixer;
    int fileFd = -1;    // --output-filename copy, or -1
    bool shown = true;  // false when --ranks-filter hides this rank
    bool isStderr = false;
    std::deque<std::string>* tail = nullptr;  // where stderr lines are kept for the summary
  };
  struct Rank {
    int rank = -1;
    pid_t pid = -1;
    std::string host;
    bool overSsh = false;
    bool reaped = false;
    int stdinFd = -1;  // RankProcess::stdinFd, closed once the rank is reaped
    Stream streams[2];
    std::unique_ptr<std::deque<std::string>> stderrTail;
  };
  static constexpr size_t kTailLines = 8;

  void handleSignals();
  void reapExited();
  void onRankExit(Rank& rank, int waitStatus);
  // The rank's host and every rank it runs (rank_exit.h).
  RankSite siteOf(const Rank& rank) const;
  // Ends the job for the first failed rank: summary, published record, then signals.
  void reportFirstFailure(Rank& rank, int code, const std::string& what);
  // Stopped ranks and heartbeats (RankLiveness).
  void checkLiveness();
  // Reads one chunk; false when nothing was read (no data yet, or end of stream).
  bool readStream(Stream& stream);
  // Writes scratch_ (prefixed lines of `stream`) to the console and keeps stderr's tail.
  void emit(Stream& stream);
  void closeStream(Stream& stream);
  void beginTermination(int exitCode);
  void signalRunning(int sig);
  int runningCount() const;
  bool anyStreamOpen() const;
  void writeOut(int fd, const std::string& text);
  void diagnostic(const std::string& line);
  void checkStart();

  SupervisorOptions options_;
  int signalFd_ = -1;
  std::vector<Rank> ranks_;
  Deadline jobDeadline_ = Deadline::never();
  Deadline killDeadline_ = Deadline::never();
  Deadline lingerDeadline_ = Deadline::never();
  Deadline startDeadline_ = Deadline::never();
  bool startChecked_ = false;
  std::vector<std::pair<int, int>> outputFiles_;  // per rank: stdout, stderr file descriptors
  RankLiveness liveness_;
  Deadline livenessDeadline_ = Deadline::never();
  Deadline tickDeadline_ = Deadline::never();
  Deadline termDeadline_ = Deadline::never();  // SIGTERM once the survivors' grace is over
  bool terminating_ = false;
  bool killed_ = false;
  int exitCode_ = 0;
  bool outputBroken_[2] = {false, false};  // EPIPE on kolorun's stdout / stderr
  std::string scratch_;
};

}  // namespace kolo::launcher
