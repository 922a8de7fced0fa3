#include "flight_recorder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"
#include "kolo/base/thread_name.h"
#include "native_stacks.h"

namespace kolo::core {
namespace {

// The live recorders of this process, for SIGUSR1.
struct Registry {
  std::mutex mutex;
  std::vector<FlightRecorder*> recorders;
  bool started = false;
};
Registry& registry() {
  static auto* r = new Registry;  // never destroyed: the dump thread outlives main()
  return *r;
}
std::atomic<int> gSignalPipe{-1};

extern "C" void onFlightSignal(int) {
  const int saved = errno;
  const int fd = gSignalPipe.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const char byte = 1;
    (void)!::write(fd, &byte, 1);
  }
  errno = saved;
}

void dumpThread(int readFd) {
  char buffer[64];
  for (;;) {
    ssize_t n = ::read(readFd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (FlightRecorder* recorder : r.recorders) {
      Status s = recorder->dump("SIGUSR1");
      if (!s.isOk()) KOLO_LOG(kWarning, "flight", "{}", s.message());
    }
  }
}

// Once per process: the pipe, the dump thread and (when nobody else owns SIGUSR1) the handler.
void startSignalDumps(Registry& r) {
  if (r.started) return;
  r.started = true;
  struct sigaction current {};
  if (::sigaction(SIGUSR1, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) return;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  ::fcntl(fds[1], F_SETFL, O_NONBLOCK);  // a flood of signals must never block the handler
  gSignalPipe.store(fds[1]);
  std::thread([fd = fds[0]] {
    nameThisThread("kolo-flight");
    dumpThread(fd);
  }).detach();
  struct sigaction action {};
  action.sa_handler = onFlightSignal;
  ::sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &action, nullptr);
}

// Moves the Python stacks faulthandler wrote since the last dump into `text`. faulthandler's
// file is opened for appending, so after the truncation it writes from the start again.
void takePythonStacks(const std::string& path, std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return;
  std::string stacks;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) stacks.append(buffer, n);
  std::fclose(f);
  if (stacks.empty()) return;
  (void)!::truncate(path.c_str(), 0);
  text += "# python stacks (every thread, most recent call first)\n";
  text += stacks;
  if (stacks.back() != '\n') text += '\n';
}

std::string ageOf(Clock::time_point since, Clock::time_point now) {
  if (since == Clock::time_point{}) return "-";
  return fmt::format("{:.3f}", std::chrono::duration<double>(now - since).count());
}

}  // namespace

const char* flightStateName(FlightRecorder::State state) {
  switch (state) {
    case FlightRecorder::State::kNegotiating:
      return "negotiating";
    case FlightRecorder::State::kRunning:
      return "running";
    case FlightRecorder::State::kDone:
      return "done";
    case FlightRecorder::State::kFailed:
      return "failed";
  }
  return "?";
}

FlightRecorder::FlightRecorder(size_t capacity, std::string directory, int rank)
    : entries_(capacity), rank_(rank) {
  if (directory.empty()) directory = "/tmp";
  path_ = fmt::format("{}/kolo-flight.rank{}.pid{}.txt", directory, rank, ::getpid());
  stacksPath_ = fmt::format("{}/kolo-stacks.pid{}.txt", directory, ::getpid());
  if (capacity == 0) return;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.recorders.push_back(this);
  startSignalDumps(r);
}

FlightRecorder::~FlightRecorder() {
  retire();
}

void FlightRecorder::retire() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::erase(r.recorders, this);
}

std::shared_ptr<FlightRecorder> FlightRecorder::fromEnv(int rank) {
  const int64_t size = settingInt("KOLO_FLIGHT_RECORDER_SIZE");
  return std::make_shared<FlightRecorder>(static_cast<size_t>(std::max<int64_t>(0, size)),
                                          settingTextOrDefault("KOLO_FLIGHT_RECORDER_DIR"), rank);
}

uint64_t FlightRecorder::add(int32_t processSet, const std::string& name, std::string_view op,
                             uint64_t bytes, std::string arrived) {
  if (entries_.empty()) return 0;
  std::lock_guard lock(mutex_);
  const uint64_t id = nextId_++;
  Entry& e = entries_[id % entries_.size()];
  e.id = id;
  e.processSet = processSet;
  e.name = name;
  e.op = op;
  e.bytes = bytes;
  e.state = State::kNegotiating;
  e.arrived = std::move(arrived);
  e.error.clear();
  e.since = Clock::now();
  return id;
}

void FlightRecorder::update(uint64_t id, State state, std::string arrived, std::string error) {
  if (id == 0 || entries_.empty()) return;
  std::lock_guard lock(mutex_);
  Entry& e = entries_[id % entries_.size()];
  if (e.id != id) return;
  e.state = state;
  e.since = Clock::now();
  if (!arrived.empty()) e.arrived = std::move(arrived);
  if (!error.empty()) e.error = std::move(error);
}

Status FlightRecorder::dump(const std::string& why, bool nativeStacks) {
  if (entries_.empty()) return Status::ok();
  std::string text;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    const uint64_t first = nextId_ > entries_.size() ? nextId_ - entries_.size() : 1;
    text = fmt::format(
        "# Kolo flight recorder: rank {} pid {}, {} (last {} ops, oldest first)\n"
        "# id\tset\tstate\tseconds_in_state\top\tbytes\tname\tarrived\terror\n",
        rank_, ::getpid(), why, nextId_ - first);
    for (uint64_t id = first; id < nextId_; ++id) {
      const Entry& e = entries_[id % entries_.size()];
      if (e.id != id) continue;
      text += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", e.id, e.processSet,
                          flightStateName(e.state), ageOf(e.since, now), e.op, e.bytes, e.name,
                          e.arrived, e.error.empty() ? "-" : e.error);
    }
  }
  if (nativeStacks) text += nativeStacksSection();
  takePythonStacks(stacksPath_, text);
  {
    std::lock_guard lock(mutex_);
    lastDump_ = text;
  }
  dumps_.fetch_add(1);
  const std::string temp = path_ + ".tmp";
  std::FILE* f = std::fopen(temp.c_str(), "w");
  if (f == nullptr) {
    return makeStatus(Code::kIoError, "flight recorder: cannot write {}: {}", temp,
                      std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed || std::rename(temp.c_str(), path_.c_str()) != 0) {
    std::remove(temp.c_str());
    return makeStatus(Code::kIoError, "flight recorder: cannot write {}", path_);
  }
  KOLO_LOG(kWarning, "flight", "rank {}: flight recorder written to {} ({})", rank_, path_, why);
  return Status::ok();
}

std::pair<uint64_t, double> FlightRecorder::oldestInFlight() {
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  std::pair<uint64_t, double> oldest{0, 0.0};
  for (const Entry& e : entries_) {
    if (e.id == 0 || (e.state != State::kNegotiating && e.state != State::kRunning)) continue;
    const double age = std::chrono::duration<double>(now - e.since).count();
    if (oldest.first == 0 || age > oldest.second) oldest = {e.id, age};
  }
  return oldest;
}

std::string FlightRecorder::lastDump() {
  std::lock_guard lock(mutex_);
  return lastDump_;
}

bool FlightRecorder::ownsSignal() {
  return gSignalPipe.load() >= 0;
}

std::string flightStacksPath() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (gSignalPipe.load() < 0 || r.recorders.empty()) return {};
  return r.recorders.front()->stacksPath();
}

}  // namespace kolo::core
