#include "kolo/launcher/line_prefixer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <utility>

namespace kolo::launcher {

LinePrefixer::LinePrefixer(std::string prefix, size_t maxLine)
    : prefix_(std::move(prefix)), maxLine_(std::max<size_t>(maxLine, 4)) {}

void LinePrefixer::emitLine(std::string_view line, std::string& out) const {
  out.reserve(out.size() + prefix_.size() + line.size() + 32);
  if (clock_) out.append(clock_());
  out.append(prefix_);
  out.append(line);
  out.push_back('\n');
}

void LinePrefixer::feed(std::string_view data, std::string& out) {
  while (!data.empty()) {
    size_t newline = data.find('\n');
    if (newline == std::string_view::npos) {
      pending_.append(data);
      cutOverlongPending(out);
      return;
    }
    std::string_view piece = data.substr(0, newline);
    data.remove_prefix(newline + 1);
    if (pending_.empty()) {
      // The common case: a whole line inside one read; no copy into pending_.
      if (piece.size() <= maxLine_) {
        emitLine(piece, out);
        continue;
      }
      pending_.assign(piece);
    } else {
      pending_.append(piece);
    }
    cutOverlongPending(out);
    emitLine(pending_, out);
    pending_.clear();
  }
}

void LinePrefixer::cutOverlongPending(std::string& out) {
  size_t start = 0;
  while (pending_.size() - start > maxLine_) {
    std::string_view rest(pending_.data() + start, pending_.size() - start);
    size_t cut = utf8SafeCut(rest, maxLine_);
    emitLine(rest.substr(0, cut), out);
    start += cut;
  }
  if (start > 0) pending_.erase(0, start);
}

void LinePrefixer::finish(std::string& out) {
  if (pending_.empty()) return;
  cutOverlongPending(out);
  emitLine(pending_, out);
  pending_.clear();
}

size_t utf8SafeCut(std::string_view text, size_t limit) {
  if (text.size() <= limit) return text.size();
  // Walk back from the cut over at most 3 continuation bytes (10xxxxxx) to the lead byte; if the
  // character starting there does not fit before the cut, cut before it instead.
  size_t lead = limit;
  int continuation = 0;
  while (lead > 0 && continuation < 3 && (static_cast<unsigned char>(text[lead]) & 0xC0) == 0x80) {
    --lead;
    ++continuation;
  }
  if (continuation == 0) return limit;  // text[limit] starts a character: cutting there is safe
  auto byte = static_cast<unsigned char>(text[lead]);
  size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
  if (length == 1) return limit;  // stray continuation bytes: no character to keep whole
  if (lead + length <= limit) return limit;
  return lead > 0 ? lead : limit;
}

}  // namespace kolo::launcher

namespace kolo::launcher {

std::string utcTimestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("[{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}]", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms % 1000);
}

}  // namespace kolo::launcher
