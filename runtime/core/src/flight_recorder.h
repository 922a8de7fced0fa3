// FlightRecorder: the last N ops of this process (every process set), kept so that a failed,
// timed-out or hung job can say what it was doing: name, op, bytes, state and which ranks had
// submitted the name. Written to
//   $KOLO_FLIGHT_RECORDER_DIR/kolo-flight.rank<R>.pid<P>.txt   (default directory: /tmp)
// when a process set fails (peer failure, timeout, abort), and on SIGUSR1 at any time.
//
// Python stacks: a Python process registers faulthandler for SIGUSR1 (chained before this
// handler) writing every thread's stack to flightStacksPath(); each dump moves what is there
// into its own file under "# python stacks" and empties it, so one dump holds both views.
//
// Native stacks: each SIGUSR1 or status-request dump also carries the native stack of every
// thread blocked in Kolo (a caller in a handle's wait, a coordinator in a cycle) under
// "# native stacks" (native_stacks.h, blocked_threads.h), before the Python stacks.
//
// Signal safety: the SIGUSR1 handler only write()s one byte to a pipe; a dump thread (one per
// process, blocked in read() until then) formats and writes the file. The handler is installed
// only when SIGUSR1 still has its default action, so a program's own handler is left alone.
// Cost on the op path: one uncontended mutex per state change, no allocation once the ring has
// filled except for names longer than the small-string buffer.
// Thread: any (the coordinators record, the dump thread and failing coordinators dump).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kolo/base/deadline.h"
#include "kolo/base/status.h"
#include "kolo/core/flight_stacks.h"

namespace kolo::core {

class FlightRecorder {
 public:
  enum class State { kNegotiating, kRunning, kDone, kFailed };

  // capacity 0 disables recording (add returns 0, dump writes nothing).
  FlightRecorder(size_t capacity, std::string directory, int rank);
  ~FlightRecorder();
  FlightRecorder(const FlightRecorder&) = delete;
  FlightRecorder& operator=(const FlightRecorder&) = delete;

  // KOLO_FLIGHT_RECORDER_SIZE (default 256 ops), KOLO_FLIGHT_RECORDER_DIR (default /tmp).
  static std::shared_ptr<FlightRecorder> fromEnv(int rank);

  // Returns the entry's id (never 0 while enabled); `arrived` describes who had submitted it.
  uint64_t add(int32_t processSet, const std::string& name, std::string_view op, uint64_t bytes,
               std::string arrived);
  // No-op for id 0 or an entry already overwritten by newer ones.
  void update(uint64_t id, State state, std::string arrived = {}, std::string error = {});

  // The session shut down: a SIGUSR1 no longer dumps this recorder (a process that opens a
  // new session, as an elastic job's reset does, answers as its new rank only), though
  // threads that still hold it may call dump() directly.
  void retire();
  // Writes the file (temporary name, then rename, so readers never see half a dump).
  // `nativeStacks` false: without the "# native stacks" section (a failure's dump: its callers
  // were just woken with the failure, and the failing process must not wait for a capture).
  Status dump(const std::string& why, bool nativeStacks = true);
  // The op that has been negotiating or running the longest (its id, or 0 when none) and for
  // how many seconds.
  std::pair<uint64_t, double> oldestInFlight();
  // How many dumps were written, and the text of the latest (what a live verdict asked through
  // the store publishes: runtime/core/src/live_status.h).
  uint64_t dumpCount() const { return dumps_.load(); }
  std::string lastDump();
  // True when Kolo's SIGUSR1 handler is installed in this process (so a SIGUSR1 dumps every
  // recorder, with the Python stacks faulthandler writes first).
  static bool ownsSignal();
  const std::string& path() const { return path_; }
  const std::string& stacksPath() const { return stacksPath_; }
  size_t capacity() const { return entries_.size(); }

 private:
  struct Entry {
    uint64_t id = 0;
    int32_t processSet = 0;
    std::string name;
    std::string op;
    uint64_t bytes = 0;
    State state = State::kNegotiating;
    std::string arrived;
    std::string error;
    Clock::time_point since{};
  };

  std::mutex mutex_;
  std::vector<Entry> entries_;
  uint64_t nextId_ = 1;
  std::atomic<uint64_t> dumps_{0};
  std::string lastDump_;  // guarded by mutex_
  std::string path_;
  std::string stacksPath_;  // <directory>/kolo-stacks.pid<P>.txt
  int rank_;
};

const char* flightStateName(FlightRecorder::State state);

}  // namespace kolo::core
