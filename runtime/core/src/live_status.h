// LiveStatus: a rank's part in the live verdict asked through the job's store, so that it works
// in every launch (kolorun, mpirun, srun, torchrun) and reaches ranks on every host
// (docs/RELIABILITY.md, "Live verdict"; the keys are kolo/base/status_request.h).
//
// - Answering: one detached thread per session waits on the store for the next request; when
//   one comes it has this process dump its flight recorder (through SIGUSR1 when Kolo owns it,
//   so faulthandler first writes every Python thread's stack into the dump) and publishes the
//   dump's text under the request. Any rank, or kolorun, may ask.
// - Asking, when a collective of this rank stalls (KOLO_STALL_WARNING_SECONDS) and no kolorun
//   runs the job (kolorun asks and prints the verdict itself, so ranks must not print a second
//   one): the first rank to claim the request asks; it waits up to answerWaitSeconds for every
//   rank's answer, runs kolo-doctor over them, prints the verdict once on its stderr ("kolo: "
//   lines) and writes it to <flight dir>/kolo-verdict.rank<R>.pid<P>.txt. A rank that did not
//   answer is named: gone, or frozen. A stall within repeatSeconds of the last request asks
//   nothing. Two things tell of a stall: the coordinator's stall warning (onStall), and, for a
//   coordinator that cannot warn because it is blocked inside a collective with a frozen peer,
//   the answering thread itself, which every half second looks for an op of this rank that has
//   been negotiating or running for warningSeconds (once per op).
// Thread: start/stop/onStall from any thread (onStall from coordinators: it never blocks);
// the threads are detached and share the state, so stop() never waits for a get in flight.
#pragma once

#include <memory>
#include <string>

#include "kolo/base/kv_store.h"
#include "flight_recorder.h"

namespace kolo::core {

struct LiveStatusOptions {
  std::shared_ptr<KvStore> store;  // the job's store (shared: the threads may outlive stop())
  std::string jobId;               // the namespace of the keys
  int rank = 0;
  int size = 1;
  std::shared_ptr<FlightRecorder> recorder;  // required; disabled recorders answer nothing
  bool askOnStall = true;         // false under kolorun
  std::string flightDir;          // where the verdict file goes (KOLO_FLIGHT_RECORDER_DIR)
  double warningSeconds = 60;      // KOLO_STALL_WARNING_SECONDS (0: no stall asks)
  double answerWaitSeconds = 1.0;  // how long the asker waits for the answers
  double repeatSeconds = 10.0;     // stalls closer to the last request give no new verdict
};

class LiveStatus {
 public:
  // Null when there is nothing to do (one rank, no recorder).
  static std::unique_ptr<LiveStatus> start(LiveStatusOptions options);
  ~LiveStatus();  // stop()
  LiveStatus(const LiveStatus&) = delete;
  LiveStatus& operator=(const LiveStatus&) = delete;

  // A collective of this rank passed the stall warning: ask for a verdict (on a thread of its
  // own) unless askOnStall is off, one is being asked, or one was asked lately.
  void onStall();
  // Lets the threads end at their next wakeup; they touch nothing of the Engine's after it.
  void stop();

  struct State;

 private:
  explicit LiveStatus(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace kolo::core
