#include "kolo/launcher/supervisor.h"

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

namespace kolo::launcher {
namespace {

constexpr size_t kReadChunk = size_t{64} * 1024;

sigset_t supervisedSignals() {
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGCHLD);
  ::sigaddset(&set, SIGINT);
  ::sigaddset(&set, SIGTERM);
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

std::string signalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev == nullptr) return fmt::format("signal {}", sig);
  return fmt::format("SIG{}", abbrev);
}

Supervisor::Supervisor(SupervisorOptions options) : options_(options) {
  if (options_.timeoutSeconds > 0) jobDeadline_ = Deadline::afterSeconds(options_.timeoutSeconds);
}

Supervisor::~Supervisor() {
  for (Rank& rank : ranks_) {
    for (Stream& stream : rank.streams) closeStream(stream);
  }
  if (signalFd_ >= 0) ::close(signalFd_);
}

Status Supervisor::open() {
  sigset_t set = supervisedSignals();
  signalFd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signalFd_ < 0) {
    return makeStatus(Code::kInternal, "signalfd failed: {}", std::strerror(errno));
  }
  return Status::ok();
}

void Supervisor::addRank(const RankProcess& process) {
  Rank rank;
  rank.rank = process.rank;
  rank.pid = process.pid;
  rank.streams[0] =
      Stream{process.stdoutFd, options_.stdoutFd,
             std::make_unique<LinePrefixer>(fmt::format("[{}]<stdout>:", process.rank))};
  rank.streams[1] =
      Stream{process.stderrFd, options_.stderrFd,
             std::make_unique<LinePrefixer>(fmt::format("[{}]<stderr>:", process.rank))};
  ranks_.push_back(std::move(rank));
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
    int timeout = pollTimeoutMs({terminating_ ? Deadline::never() : jobDeadline_,
                                 killed_ ? Deadline::never() : killDeadline_,
                                 runningCount() == 0 ? lingerDeadline_ : Deadline::never()});
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
  for (Rank& rank : ranks_) {
    if (rank.reaped) continue;
    int status = 0;
    pid_t got = ::waitpid(rank.pid, &status, WNOHANG);
    if (got == rank.pid) {
      rank.reaped = true;
      onRankExit(rank, status);
    } else if (got < 0 && errno == ECHILD) {
      rank.reaped = true;  // someone else reaped it; nothing more to learn
    }
  }
}

void Supervisor::onRankExit(Rank& rank, int waitStatus) {
  bool failed = false;
  int code = 0;
  std::string what;
  if (WIFEXITED(waitStatus)) {
    code = WEXITSTATUS(waitStatus);
    failed = code != 0;
    what = fmt::format("exited with code {}", code);
  } else if (WIFSIGNALED(waitStatus)) {
    int sig = WTERMSIG(waitStatus);
    code = 128 + sig;
    failed = true;
    what = fmt::format("was killed by signal {} ({})", sig, signalName(sig));
  } else {
    return;
  }
  // Once the job is ending, further exits are consequences, not causes.
  if (!failed || terminating_) return;
  diagnostic(fmt::format("kolorun: rank {} (pid {}) {}", rank.rank, rank.pid, what));
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

void Supervisor::signalRunning(int sig) {
  // Only unreaped ranks: a reaped rank's pid (and group id) may already belong to someone else.
  for (const Rank& rank : ranks_) {
    if (!rank.reaped) ::kill(-rank.pid, sig);
  }
}

int Supervisor::runningCount() const {
  return static_cast<int>(
      std::count_if(ranks_.begin(), ranks_.end(), [](const Rank& r) { return !r.reaped; }));
}

bool Supervisor::anyStreamOpen() const {
  for (const Rank& rank : ranks_) {
    for (const Stream& stream : rank.streams) {
      if (stream.fd >= 0) return true;
    }
  }
  return false;
}

void Supervisor::readStream(Stream& stream) {
  char buffer[kReadChunk];
  // Bounded: one chunk per wakeup keeps a chatty rank from starving the others and the timers.
  ssize_t n = ::read(stream.fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    closeStream(stream);
    return;
  }
  scratch_.clear();
  stream.prefixer->feed(std::string_view(buffer, static_cast<size_t>(n)), scratch_);
  writeOut(stream.outFd, scratch_);
}

void Supervisor::closeStream(Stream& stream) {
  if (stream.fd < 0) return;
  ::close(stream.fd);
  stream.fd = -1;
  scratch_.clear();
  stream.prefixer->finish(scratch_);
  writeOut(stream.outFd, scratch_);
}

void Supervisor::writeOut(int fd, const std::string& text) {
  bool& broken = outputBroken_[fd == options_.stdoutFd ? 0 : 1];
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
