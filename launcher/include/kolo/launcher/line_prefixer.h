// LinePrefixer: turns one rank's raw output stream into whole lines, each starting with a prefix
// such as "[2]<stdout>:". Plain byte handling, no I/O, so it is tested without processes.
//
// Thread: the supervisor's poll loop (one instance per rank stream, never shared).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace kolo::launcher {

class LinePrefixer {
 public:
  // A line longer than this is cut into several prefixed lines, so a rank that writes megabytes
  // without a newline cannot make kolorun buffer without bound. Cuts never split a UTF-8
  // character.
  static constexpr size_t kDefaultMaxLine = 1 << 20;

  explicit LinePrefixer(std::string prefix, size_t maxLine = kDefaultMaxLine);

  // Appends every complete line of `data` (plus what was pending) to `out`, each prefixed and
  // ending in '\n'. Bytes after the last '\n' wait for the next call. '\r' and non-ASCII bytes
  // pass through untouched: only '\n' ends a line.
  void feed(std::string_view data, std::string& out);

  // End of stream: a pending partial line is emitted with its prefix and a closing '\n', so the
  // next line on the shared output never continues it.
  void finish(std::string& out);

  // --prefix-timestamp: each emitted line starts with what `clock` returns (e.g.
  // "[2026-01-02T03:04:05.678]"), ahead of the rank prefix. Injected so tests control the time.
  void setClock(std::function<std::string()> clock) { clock_ = std::move(clock); }

  bool hasPending() const { return !pending_.empty(); }
  const std::string& prefix() const { return prefix_; }

 private:
  void emitLine(std::string_view line, std::string& out) const;
  // Emits pending_ in maxLine_-sized pieces while it is too long, keeping the remainder.
  void cutOverlongPending(std::string& out);

  std::string prefix_;
  size_t maxLine_;
  std::string pending_;
  std::function<std::string()> clock_;
};

// "[YYYY-MM-DDTHH:MM:SS.mmm]" in UTC, now.
std::string utcTimestamp();

// The length of the longest prefix of `text` (at most `limit` bytes) that does not end inside a
// UTF-8 multibyte sequence. Invalid bytes count as single characters.
size_t utf8SafeCut(std::string_view text, size_t limit);

}  // namespace kolo::launcher
