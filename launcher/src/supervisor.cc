#include "kolo/launcher/supervisor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>

namespace kolo::launcher {
namespace {

constexpr size_t kReadChunk = size_t{64} * 1024;

sigset_t supervisedSignals() {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  ::sigaddset(&set, SIGINT);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGUSR1);  // a live status request (kolorun --status), never forwarded
  return set;
}

int pollTimeoutMs(std::initializer_list<Deadline> deadlines) {
  auto soonest = Clock::duration::max();
  for (const Deadline& d : deadlines) {
    if (!d.isNever()) soonest = std::min(soonest, d.remaining());
  }
  if (soonest == Clock::duration::max()) return -1;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(soonest).count();
  return static_cast<int>(std::min<long long>(ms, 60'000));
}

}  // namespace

Status blockSupervisorSignals() {
  sigset_t set = supervisedSignals();
  if (int rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return makeStatus(Code::kInternal, "cannot block SIGCHLD/SIGINT/SIGTERM: {}",
                      std::strerror(rc));
  }
  ::signal(SIGPIPE, SIG_IGN);
  return Status::ok();
}

Supervisor::Supervisor(SupervisorOptions options)
    : options_(std::move(options)),
      liveness_(options_.stoppedGraceSeconds,
                options_.heartbeats ? options_.heartbeatTimeoutSeconds : 0.0) {
  if (liveness_.watchesHeartbeats()) livenessDeadline_ = Deadline::afterSeconds(1.0);
  if (options_.timeoutSeconds > 0) jobDeadline_ = Deadline::afterSeconds(options_.timeoutSeconds);
  if (options_.startTimeoutSeconds > 0 && options_.joinedRanks) {
    startDeadline_ = Deadline::afterSeconds(options_.startTimeoutSeconds);
  } else {
    startChecked_ = true;
  }
}

Status Supervisor::prepareOutputFiles(int worldSize) {
  if (options_.outputDir.empty()) return Status::ok();
  for (int rank = 0; rank < worldSize; ++rank) {
    std::string dir = fmt::format("{}/rank.{}", options_.outputDir, rank);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return makeStatus(Code::kIoError, "--output-filename: cannot create {}: {}", dir,
                        ec.message());
    }
    int fds[2] = {-1, -1};
    const char* names[2] = {"stdout", "stderr"};
    for (int i = 0; i < 2; ++i) {
      std::string path = dir + "/" + names[i];
      fds[i] = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fds[i] < 0) {
        int error = errno;
        if (i == 1) ::close(fds[0]);
        return makeStatus(Code::kIoError, "--output-filename: cannot open {}: {}", path,
                          std::strerror(error));
      }
    }
    outputFiles_.emplace_back(fds[0], fds[1]);
  }
  return Status::ok();
}

Supervisor::~Supervisor() {
  for (Rank& rank : ranks_) {
    for (Stream& stream : rank.streams) closeStream(stream);
    if (rank.stdinFd >= 0) ::close(rank.stdinFd);
  }
  if (signalFd_ >= 0) ::close(signalFd_);
  for (auto [out, err] : outputFiles_) {
    ::close(out);
    ::close(err);
  }
}

Status Supervisor::open() {
  sigset_t set = supervisedSignals();
  signalFd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signalFd_ < 0) {
    return makeStatus(Code::kInternal, "signalfd failed: {}", std::strerror(errno));
  }
  return Status::ok();
}

void Supervisor::addRank(const RankProcess& process, const std::string& host, bool overSsh) {
  Rank rank;
  rank.rank = process.rank;
  rank.pid = process.pid;
  rank.host = host;
  rank.overSsh = overSsh;
  rank.stdinFd = process.stdinFd;
  rank.stderrTail = std::make_unique<std::deque<std::string>>();
  const bool shown = options_.ranksFilter.empty() || options_.ranksFilter.count(process.rank) > 0;
  const bool hasFiles = process.rank >= 0 && process.rank < static_cast<int>(outputFiles_.size());
  const int fds[2] = {process.stdoutFd, process.stderrFd};
  const int outFds[2] = {options_.stdoutFd, options_.stderrFd};
  const char* names[2] = {"stdout", "stderr"};
  for (int i = 0; i < 2; ++i) {
    Stream& stream = rank.streams[i];
    stream.fd = fds[i];
    stream.outFd = outFds[i];
    stream.prefixer =
        std::make_unique<LinePrefixer>(fmt::format("[{}]<{}>:", process.rank, names[i]));
    if (options_.prefixTimestamp) stream.prefixer->setClock(utcTimestamp);
    if (hasFiles) {
      stream.fileFd = i == 0 ? outputFiles_[process.rank].first : outputFiles_[process.rank].second;
    }
    stream.shown = shown;
    stream.isStderr = i == 1;
    stream.tail = i == 1 ? rank.stderrTail.get() : nullptr;
  }
  ranks_.push_back(std::move(rank));
}

void Supervisor::checkStart() {
  if (startChecked_ || terminating_) return;
  std::vector<bool> joined = options_.joinedRanks();
  std::vector<int> missing;
  int joinedCount = 0;
  for (const Rank& rank : ranks_) {
    bool in = rank.rank >= 0 && rank.rank < static_cast<int>(joined.size()) && joined[rank.rank];
    if (in) {
      ++joinedCount;
    } else if (!rank.reaped) {
      missing.push_back(rank.rank);
    }
  }
  if (missing.empty()) {
    // Everyone still running has joined; ranks that finished without the store never will.
    startChecked_ = true;
    return;
  }
  if (!startDeadline_.expired()) return;
  startChecked_ = true;
  std::string list;
  for (int r : missing) list += (list.empty() ? "" : ", ") + std::to_string(r);
  diagnostic(
      fmt::format("kolorun: {}/{} ranks joined the store within --start-timeout {} s; missing {}",
                  joinedCount, ranks_.size(), options_.startTimeoutSeconds, list));
  beginTermination(kExitTimeout);
}

void Supervisor::abortAll() {
  signalRunning(SIGKILL);
  for (Rank& rank : ranks_) {
    if (!rank.reaped) {
      int status = 0;
      while (::waitpid(rank.pid, &status, 0) < 0 && errno == EINTR) {
      }
      rank.reaped = true;
    }
    for (Stream& stream : rank.streams) closeStream(stream);
  }
}

int Supervisor::run() {
  if (options_.onTick) tickDeadline_ = Deadline::afterSeconds(options_.tickSeconds);
  std::vector<pollfd> fds;
  std::vector<Stream*> owners;
  while (runningCount() > 0 || anyStreamOpen()) {
    if (runningCount() == 0 && lingerDeadline_.isNever()) {
      lingerDeadline_ = Deadline::afterSeconds(options_.outputLingerSeconds);
    }
    if (runningCount() == 0 && lingerDeadline_.expired()) {
      // A background grandchild still holds a pipe; the job itself is over.
      for (Rank& rank : ranks_) {
        for (Stream& stream : rank.streams) closeStream(stream);
      }
      break;
    }
    fds.clear();
    owners.clear();
    fds.push_back(pollfd{signalFd_, POLLIN, 0});
    owners.push_back(nullptr);
    for (Rank& rank : ranks_) {
      for (Stream& stream : rank.streams) {
        if (stream.fd < 0) continue;
        fds.push_back(pollfd{stream.fd, POLLIN, 0});
        owners.push_back(&stream);
      }
    }
    int timeout =
        pollTimeoutMs({terminating_ ? Deadline::never() : jobDeadline_,
                       killed_ ? Deadline::never() : killDeadline_,
                       terminating_ ? Deadline::never() : livenessDeadline_, termDeadline_,
                       runningCount() == 0 ? lingerDeadline_ : Deadline::never(),
                       startChecked_ ? Deadline::never() : startDeadline_,
                       terminating_ ? Deadline::never() : tickDeadline_});
    int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) {
      diagnostic(fmt::format("kolorun: poll failed: {}; killing all ranks", std::strerror(errno)));
      if (!terminating_) exitCode_ = 1;
      abortAll();
      break;
    }
    // Output first, then exits: a failing rank's last words come out before kolorun's verdict.
    for (size_t i = 1; ready > 0 && i < fds.size(); ++i) {
      if (fds[i].revents != 0) readStream(*owners[i]);
    }
    if (ready > 0 && fds[0].revents != 0) handleSignals();
    reapExited();
    checkStart();
    checkLiveness();
    if (!terminating_ && options_.onTick && tickDeadline_.expired()) {
      options_.onTick();
      tickDeadline_ = Deadline::afterSeconds(options_.tickSeconds);
    }
    if (terminating_ && termDeadline_.expired() && runningCount() > 0) {
      termDeadline_ = Deadline::never();
      diagnostic(fmt::format("kolorun: sending SIGTERM to {} remaining rank(s)", runningCount()));
      signalRunning(SIGTERM);
      killDeadline_ = Deadline::afterSeconds(options_.killGraceSeconds);
    }

    if (!terminating_ && jobDeadline_.expired()) {
      diagnostic(
          fmt::format("kolorun: the job exceeded --timeout {} s; terminating {} running rank(s)",
                      options_.timeoutSeconds, runningCount()));
      beginTermination(kExitTimeout);
    }
    if (terminating_ && !killed_ && killDeadline_.expired() && runningCount() > 0) {
      diagnostic(
          fmt::format("kolorun: {} rank(s) still running {} s after SIGTERM; sending SIGKILL",
                      runningCount(), options_.killGraceSeconds));
      signalRunning(SIGKILL);
      killed_ = true;
    }
  }
  return exitCode_;
}

void Supervisor::handleSignals() {
  signalfd_siginfo info{};
  while (::read(signalFd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) continue;  // reapExited() runs after every wakeup
    if (sig == SIGUSR1) {
      if (options_.onStatusRequest) options_.onStatusRequest();
      continue;
    }
    diagnostic(fmt::format("kolorun: received {}; forwarding it to {} running rank(s)",
                           signalName(sig), runningCount()));
    signalRunning(sig);
    if (!terminating_) {
      terminating_ = true;
      exitCode_ = 128 + sig;
      killDeadline_ = Deadline::afterSeconds(options_.killGraceSeconds);
    }
  }
}

void Supervisor::reapExited() {
  // Ranks found dead in one pass are judged causes first: one killed by a signal before one
  // that exited with an error (usually its reaction to the dead peer), then in rank order.
  std::vector<std::pair<Rank*, int>> exited;
  for (Rank& rank : ranks_) {
    if (rank.reaped) continue;
    int status = 0;
    pid_t got = ::waitpid(rank.pid, &status, WNOHANG | WUNTRACED | WCONTINUED);
    if (got == rank.pid && WIFSTOPPED(status)) {
      liveness_.stopped(rank.rank, Clock::now());
      livenessDeadline_ = Deadline::after(Clock::duration::zero());
    } else if (got == rank.pid && WIFCONTINUED(status)) {
      liveness_.continued(rank.rank);
    } else if (got == rank.pid) {
      liveness_.exited(rank.rank);
      rank.reaped = true;
      if (rank.stdinFd >= 0) ::close(rank.stdinFd);
      rank.stdinFd = -1;
      exited.emplace_back(&rank, status);
    } else if (got < 0 && errno == ECHILD) {
      rank.reaped = true;  // someone else reaped it; nothing more to learn
    }
  }
  std::stable_partition(exited.begin(), exited.end(),
                        [](const auto& e) { return WIFSIGNALED(e.second); });
  for (auto& [rank, status] : exited) onRankExit(*rank, status);
}

RankSite Supervisor::siteOf(const Rank& rank) const {
  RankSite site{rank.host, rank.overSsh, {}};
  for (const Rank& other : ranks_) {
    if (other.host == rank.host) site.ranksOnHost.push_back(other.rank);
  }
  return site;
}

void Supervisor::onRankExit(Rank& rank, int waitStatus) {
  const std::optional<RankExit> exit = describeRankExit(waitStatus, siteOf(rank));
  if (!exit) return;
  const bool failed = exit->failed;
  const int code = exit->code;
  const std::string& what = exit->what;
  // Once the job is ending, further exits are consequences, not causes.
  if (!failed || terminating_) return;
  if (options_.tolerateFailure && options_.tolerateFailure(rank.rank, code)) {
    diagnostic(fmt::format("kolorun: rank {} (pid {}) {}; the elastic job goes on without it",
                           rank.rank, rank.pid, what));
    return;
  }
  reportFirstFailure(rank, code, what);
}

void Supervisor::checkLiveness() {
  if (terminating_ || !livenessDeadline_.expired()) return;
  const Clock::time_point now = Clock::now();
  if (liveness_.watchesHeartbeats()) liveness_.observe(options_.heartbeats(), now);
  const Clock::time_point next = liveness_.nextCheck(now);
  livenessDeadline_ =
      next == Clock::time_point::max() ? Deadline::never() : Deadline::after(next - now);
  auto verdict = liveness_.check(now);
  if (!verdict) return;
  for (Rank& rank : ranks_) {
    if (rank.rank != verdict->rank || rank.reaped) continue;
    if (options_.tolerateFailure && options_.tolerateFailure(rank.rank, verdict->exitCode)) {
      diagnostic(fmt::format("kolorun: rank {} (pid {}) {}; the elastic job goes on without it",
                             rank.rank, rank.pid, verdict->reason));
      ::kill(-rank.pid, SIGKILL);
      liveness_.exited(rank.rank);
      return;
    }
    reportFirstFailure(rank, verdict->exitCode, describeSilentRank(verdict->reason, siteOf(rank)));
    // It will not exit by itself (a stopped process does not even act on SIGTERM).
    ::kill(-rank.pid, SIGKILL);
    return;
  }
}

void Supervisor::reportFirstFailure(Rank& rank, int code, const std::string& what) {
  diagnostic(fmt::format("kolorun: rank {} (pid {}) {}", rank.rank, rank.pid, what));
  if (options_.publishFailure) {
    PeerFailure failure;
    failure.rank = rank.rank;
    failure.host = rank.host.empty() ? "localhost" : rank.host;
    failure.pid = rank.pid;
    failure.reason = what;
    failure.reporter = "kolorun";
    options_.publishFailure(failure);
  }
  // Whatever the rank wrote last is usually why; drain what is already in its pipe first.
  // Bounded: a background child may keep writing into the same pipe.
  for (Stream& stream : rank.streams) {
    for (int chunk = 0; chunk < 64 && stream.fd >= 0 && readStream(stream); ++chunk) {
    }
  }
  std::string summary =
      fmt::format("kolorun: first failure: rank {}{} (pid {}) {}", rank.rank,
                  rank.host.empty() ? "" : " on host " + rank.host, rank.pid, what);
  if (rank.stderrTail->empty()) {
    summary += "; it wrote nothing to stderr";
  } else {
    summary += "; its last stderr lines:";
    for (const std::string& line : *rank.stderrTail) summary += "\nkolorun:   " + line;
  }
  diagnostic(summary);
  // Only ranks with an open Kolo session follow the record; other programs get SIGTERM at once.
  const bool listeners = options_.heartbeats && !options_.heartbeats().empty();
  if (options_.publishFailure && options_.abortGraceSeconds > 0 && listeners) {
    // The survivors learn of the failure through the store and end their ops themselves (each
    // naming this rank, flight recorders written); SIGTERM only for those that do not.
    terminating_ = true;
    exitCode_ = code;
    termDeadline_ = Deadline::afterSeconds(options_.abortGraceSeconds);
    return;
  }
  beginTermination(code);
}

void Supervisor::beginTermination(int exitCode) {
  terminating_ = true;
  exitCode_ = exitCode;
  if (runningCount() > 0) {
    diagnostic(fmt::format("kolorun: sending SIGTERM to {} remaining rank(s)", runningCount()));
    signalRunning(SIGTERM);
  }
  killDeadline_ = Deadline::afterSeconds(options_.killGraceSeconds);
}

bool Supervisor::readStream(Stream& stream) {
  char buffer[kReadChunk];
  // Bounded: one chunk per wakeup keeps a chatty rank from starving the others and the timers.
  ssize_t n = ::read(stream.fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return false;
  if (n <= 0) {
    closeStream(stream);
    return false;
  }
  if (stream.fileFd >= 0) writeOut(stream.fileFd, std::string(buffer, static_cast<size_t>(n)));
  scratch_.clear();
  stream.prefixer->feed(std::string_view(buffer, static_cast<size_t>(n)), scratch_);
  emit(stream);
  return true;
}

void Supervisor::emit(Stream& stream) {
  if (stream.tail != nullptr) {
    size_t start = 0;
    while (start < scratch_.size()) {
      size_t end = scratch_.find('\n', start);
      if (end == std::string::npos) end = scratch_.size();
      stream.tail->emplace_back(scratch_.substr(start, std::min<size_t>(end - start, 512)));
      if (stream.tail->size() > kTailLines) stream.tail->pop_front();
      start = end + 1;
    }
  }
  if (stream.shown) writeOut(stream.outFd, scratch_);
  if (stream.isStderr && options_.onRankStderr) options_.onRankStderr(scratch_);
}

void Supervisor::closeStream(Stream& stream) {
  if (stream.fd < 0) return;
  ::close(stream.fd);
  stream.fd = -1;
  scratch_.clear();
  stream.prefixer->finish(scratch_);
  emit(stream);
}

void Supervisor::writeOut(int fd, const std::string& text) {
  bool fileBroken = false;
  const bool console = fd == options_.stdoutFd || fd == options_.stderrFd;
  bool& broken = console ? outputBroken_[fd == options_.stdoutFd ? 0 : 1] : fileBroken;
  if (broken) return;
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      pollfd wait{fd, POLLOUT, 0};
      ::poll(&wait, 1, 100);
    } else {
      broken = true;  // reader gone (EPIPE) or fd unusable: keep supervising, drop output
      return;
    }
  }
}

void Supervisor::diagnostic(const std::string& line) {
  writeOut(options_.stderrFd, line + "\n");
}

}  // namespace kolo::launcher
