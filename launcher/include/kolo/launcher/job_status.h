// JobStatus: kolorun's live verdict on a running job (docs/RELIABILITY.md, "Live verdict").
// On request (SIGUSR1 to kolorun, which `kolorun --status` sends, or a rank's stall warning)
// it sends SIGUSR1 to every process of each local rank that catches it, so each writes its
// flight-recorder dump with its Python stacks; waits up to a bound for the fresh dumps; runs
// kolo-doctor over them; prints the verdict on kolorun's stderr and writes it to
// <flight dir>/kolo-verdict.kolorun<PID>.txt (owner-only) and to statusFilePath(kolorun's
// pid), where `kolorun --status` reads it. Ranks on other hosts, which kolorun cannot signal,
// are asked through its store (kolo/base/status_request.h): their status threads dump and
// publish the dump, which kolorun adds to the others (within the same bound).
//
// Thread: the launcher's main thread (the supervisor's callbacks); a request blocks it for
// at most the dump bound plus kolo-doctor's run.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "kolo/base/deadline.h"

namespace kolo::launcher {

class StoreServer;

struct JobStatusOptions {
  std::string flightDir;   // the ranks' KOLO_FLIGHT_RECORDER_DIR (default /tmp)
  std::string doctorPath;  // kolo-doctor beside kolorun
  int worldSize = 0;
  // An elastic job: the current membership's size. Its ranks are renumbered each generation,
  // so kolorun cannot tell a rank's number from its launch rank: the ranks of [0, size) that
  // left no local dump are asked through the store.
  std::function<int()> currentSize;
  StoreServer* store = nullptr;  // kolorun's store, where ranks on other hosts are asked
  std::string jobId;             // KOLO_JOB_ID: the namespace of the status keys
  double dumpWaitSeconds = 1.5;       // how long fresh dumps are waited for
  double stallRepeatSeconds = 10.0;   // stall warnings closer together give one verdict
};

class JobStatus {
 public:
  explicit JobStatus(JobStatusOptions options);
  ~JobStatus();  // removes the status file
  JobStatus(const JobStatus&) = delete;
  JobStatus& operator=(const JobStatus&) = delete;

  // Builds, prints and files a verdict over `localRanks` (rank -> pid).
  void report(const std::string& why, const std::map<int, pid_t>& localRanks);
  // A rank's stderr text: true when it holds a stall warning that should trigger a verdict.
  bool stallWarned(std::string_view text);

  // Where the verdict of the kolorun with this pid is kept for `kolorun --status`: in
  // /tmp/kolorun-<uid>/, a directory only its user may enter (verdicts name tensors and source
  // lines); ownStatusDirectory() makes it and checks that it is so.
  static std::string statusDirectory();
  static std::string statusFilePath(pid_t kolorun);
  static bool ownStatusDirectory();

 private:
  std::string collectDumps(const std::map<int, pid_t>& localRanks, double since,
                           std::string& notes);
  // Asks the ranks not in `localRanks` through the store; their answers go into `dir`.
  void askRemote(const std::string& why, const std::map<int, pid_t>& localRanks,
                 const std::string& dir, std::string& notes);
  int size() const { return options_.currentSize ? options_.currentSize() : options_.worldSize; }
  std::string runDoctor(const std::string& directory);
  void publish(const std::string& text);

  JobStatusOptions options_;
  Deadline quietUntil_ = Deadline::never();
  bool stallSeen_ = false;
  bool statusFileUsable_ = false;
};

// `kolorun --status [--pid PID]`: asks the running kolorun (the only one, or PID) for a live
// verdict and prints it; kolorun's exit code.
int printJobStatus(int pid);

}  // namespace kolo::launcher
