#include "live_status.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <thread>

#include "kolo/base/logging.h"
#include "kolo/base/program_output.h"
#include "kolo/base/status_request.h"
#include "kolo/base/thread_name.h"
#include "native_stacks.h"
#include "store_thread_guard.h"

namespace kolo::core {
namespace fs = std::filesystem;

struct LiveStatus::State {
  LiveStatusOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<bool> asking{false};
  uint64_t watchedOp = 0;  // the op the answering thread last asked for (its thread only)
};

namespace {

constexpr double kWaitSliceSeconds = 0.5;  // how often the answering thread looks at stopping

double wallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True while SIGUSR1 is caught (by Kolo's handler, or faulthandler chained before it): raising
// it then dumps and never ends the process.
bool usr1Caught() {
  struct sigaction current {};
  return ::sigaction(SIGUSR1, nullptr, &current) == 0 && current.sa_handler != SIG_DFL &&
         current.sa_handler != SIG_IGN;
}

// This process's dump: through SIGUSR1 when Kolo owns it (faulthandler, chained before Kolo's
// handler, writes the Python stacks the dump then takes in), else written directly.
std::string freshDump(FlightRecorder& recorder) {
  const uint64_t before = recorder.dumpCount();
  if (FlightRecorder::ownsSignal() && usr1Caught() && ::kill(::getpid(), SIGUSR1) == 0) {
    const Deadline deadline = Deadline::afterSeconds(1.0);
    while (recorder.dumpCount() == before && !deadline.expired()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (recorder.dumpCount() == before) (void)recorder.dump("status request");
  return recorder.lastDump();
}

void answer(LiveStatus::State& s, long long request) {
  const std::string text = freshDump(*s.options.recorder);
  Status put = s.options.store->set(statusDumpKey(s.options.jobId, request, s.options.rank), text);
  if (!put.isOk()) KOLO_LOG(kDebug, "status", "answering request {}: {}", request, put.message());
}

void askOnThread(const std::shared_ptr<LiveStatus::State>& state);

// For a coordinator blocked inside a collective (a frozen peer), which cannot warn itself.
// An op in flight for half the stall warning (30 s without one) also has this thread read the
// binaries' symbols, once, so that the dump a stall's verdict asks for is not slowed by it.
void watchOldestOp(const std::shared_ptr<LiveStatus::State>& state) {
  const LiveStatusOptions& o = state->options;
  const auto [id, seconds] = o.recorder->oldestInFlight();
  const double warmAfter = o.warningSeconds > 0 ? o.warningSeconds / 2 : 30.0;
  if (id != 0 && seconds >= warmAfter) warmNativeSymbols();
  if (!o.askOnStall || !(o.warningSeconds > 0)) return;
  if (id == 0 || id == state->watchedOp || seconds < o.warningSeconds) return;
  state->watchedOp = id;
  askOnThread(state);
}

// A request reads "time T ranks all|R1,R2,... WHY" (kolorun asks only the ranks it cannot
// signal itself).
bool addressedTo(const std::string& request, int rank) {
  char ranks[4096] = {0};
  if (std::sscanf(request.c_str(), "time %*f ranks %4095s", ranks) != 1) return true;
  if (std::string_view(ranks) == "all") return true;
  const std::string list = "," + std::string(ranks) + ",";
  return list.find(fmt::format(",{},", rank)) != std::string::npos;
}

void answerRequests(const std::shared_ptr<LiveStatus::State>& state) {
  KvStore& store = *state->options.store;
  auto latest = store.add(statusRequestCounterKey(state->options.jobId), 0);
  if (!latest) return;
  long long next = latest.value() + 1;
  while (!state->stopping.load() && !storeThreadsExiting()) {
    auto request = store.get(statusRequestKey(state->options.jobId, next),
                             Deadline::afterSeconds(kWaitSliceSeconds));
    if (state->stopping.load() || storeThreadsExiting()) return;
    if (request.hasValue()) {
      if (addressedTo(request.value(), state->options.rank)) answer(*state, next);
      ++next;
    } else if (request.status().code() != Code::kTimeout) {
      return;  // the store is gone (the job ends): nobody can ask any more
    } else {
      watchOldestOp(state);
    }
  }
}

// Claims the request after the latest one for this stall; its number, or 0 when another rank
// asked already or a request came within repeatSeconds.
long long claimRequest(LiveStatus::State& s) {
  KvStore& store = *s.options.store;
  auto latest = store.add(statusRequestCounterKey(s.options.jobId), 0);
  if (!latest) return 0;
  if (latest.value() > 0) {
    auto last = store.get(statusRequestKey(s.options.jobId, latest.value()),
                          Deadline::afterSeconds(1.0));
    double at = 0;
    if (last && std::sscanf(last.value().c_str(), "time %lf", &at) == 1 &&
        wallSeconds() - at < s.options.repeatSeconds) {
      return 0;
    }
  }
  auto claim = store.add(statusClaimKey(s.options.jobId, latest.value()), 1);
  if (!claim || claim.value() != 1) return 0;
  auto mine = store.add(statusRequestCounterKey(s.options.jobId), 1);
  return mine ? mine.value() : 0;
}

// Collects the answers to `request` into a fresh directory (kolo-doctor's file names); notes
// every rank that did not answer in time.
std::string collectAnswers(LiveStatus::State& s, long long request, int& answered,
                           std::string& notes) {
  char pattern[] = "/tmp/kolo-verdict-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) return {};
  const std::regex header(R"(^# Kolo flight recorder: rank \d+ pid (\d+),)");
  const Deadline deadline = Deadline::afterSeconds(s.options.answerWaitSeconds);
  for (int rank = 0; rank < s.options.size; ++rank) {
    auto dump = s.options.store->get(statusDumpKey(s.options.jobId, request, rank), deadline);
    std::smatch m;
    if (!dump || !std::regex_search(dump.value(), m, header)) {
      notes += fmt::format("rank {} did not answer within {:.1f} s: it is gone, or frozen "
                           "(stopped, or stuck in native code with signals blocked)\n",
                           rank, s.options.answerWaitSeconds);
      continue;
    }
    ++answered;
    (void)writeFileAtomically(
        fmt::format("{}/kolo-flight.rank{}.pid{}.txt", pattern, rank, m[1].str()), dump.value());
  }
  return pattern;
}

void ask(LiveStatus::State& s, const std::string& why) {
  const long long request = claimRequest(s);
  if (request == 0) return;
  Status put = s.options.store->set(statusRequestKey(s.options.jobId, request),
                                    fmt::format("time {:.3f} ranks all rank {}: {}",
                                                wallSeconds(), s.options.rank, why));
  if (!put.isOk()) return;
  int answered = 0;
  std::string notes;
  const std::string dir = collectAnswers(s, request, answered, notes);
  std::string text = fmt::format("live verdict ({}, asked by rank {}): {} of {} rank(s) answered\n",
                                 why, s.options.rank, answered, s.options.size);
  text += notes;
  const std::string doctor = koloDoctorPath();
  if (dir.empty()) {
    text += "no directory for the answers could be made in /tmp\n";
  } else if (doctor.empty()) {
    text += "kolo-doctor was not found (it is installed beside kolorun); the answers are in " +
            dir + "\n";
  } else {
    text += runProgramOutput({doctor, "-n", std::to_string(s.options.size), dir}, 20);
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string printed;
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    printed += "kolo: " + text.substr(at, end - at) + "\n";
    at = end == std::string::npos ? text.size() : end + 1;
  }
  std::fwrite(printed.data(), 1, printed.size(), stderr);  // one write: one block in the logs
  std::fflush(stderr);
  const std::string file = fmt::format("{}/kolo-verdict.rank{}.pid{}.txt", s.options.flightDir,
                                       s.options.rank, ::getpid());
  if (!writeFileAtomically(file, text)) {
    KOLO_LOG(kWarning, "status", "cannot write the live verdict to {}", file);
  }
}

void askOnThread(const std::shared_ptr<LiveStatus::State>& state) {
  if (!state->options.askOnStall || state->stopping.load() || state->asking.exchange(true)) {
    return;
  }
  enterStoreThread();
  std::thread([state = std::shared_ptr<LiveStatus::State>(state)]() mutable {
    nameThisThread("kolo-status-ask");
    if (!storeThreadsExiting()) ask(*state, "a collective stalled");
    state->asking.store(false);
    state.reset();
    leaveStoreThread();
  }).detach();
}

}  // namespace

std::unique_ptr<LiveStatus> LiveStatus::start(LiveStatusOptions options) {
  if (options.size <= 1 || !options.store || !options.recorder ||
      options.recorder->capacity() == 0) {
    return nullptr;
  }
  if (options.flightDir.empty()) options.flightDir = "/tmp";
  auto state = std::make_shared<State>();
  state->options = std::move(options);
  enterStoreThread();
  std::thread([state]() mutable {
    nameThisThread("kolo-status");
    answerRequests(state);
    state.reset();  // the store may close before an exiting process goes on
    leaveStoreThread();
  }).detach();
  return std::unique_ptr<LiveStatus>(new LiveStatus(std::move(state)));
}

LiveStatus::~LiveStatus() {
  stop();
}

void LiveStatus::stop() {
  if (state_) state_->stopping.store(true);
}

void LiveStatus::onStall() {
  askOnThread(state_);
}

}  // namespace kolo::core
