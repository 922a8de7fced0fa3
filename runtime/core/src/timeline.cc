#include "timeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kolo::core {
namespace {

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// ,"copy_us":..,"reduce_us":..,"transfer_us":..,"other_us":..,"batch":n; other is the rest
// of the batch's span.
std::string phaseArgs(const PhaseTotals& phases, Clock::duration took, uint64_t batch) {
  const auto total = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
  const uint64_t span = total > 0 ? static_cast<uint64_t>(total) : 0;
  std::string out;
  uint64_t attributed = 0;
  for (size_t p = 0; p < kPhaseCount; ++p) {
    const uint64_t ns = std::min(phases.nanos[p], span - attributed);
    attributed += ns;
    out += fmt::format(R"(,"{}_us":{:.3f})", phaseName(static_cast<Phase>(p)), ns / 1e3);
  }
  out += fmt::format(R"(,"other_us":{:.3f},"batch":{})", (span - attributed) / 1e3, batch);
  return out;
}

}  // namespace

Status Timeline::start(const std::string& path, bool markCycles) {
  if (path.empty()) return Status(Code::kInvalidArgument, "the timeline path is empty");
  std::lock_guard lock(mutex_);
  if (file_) {
    if (path == path_) return Status::ok();
    return makeStatus(Code::kInvalidUsage,
                      "a timeline is already being written to '{}'; stop it before starting '{}'",
                      path_, path);
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    return makeStatus(Code::kIoError, "cannot open the timeline file '{}': {}", path,
                      std::strerror(errno));
  }
  std::fputs("[\n", f);
  file_ = f;
  path_ = path;
  markCycles_ = markCycles;
  origin_ = Clock::now();
  rows_.clear();
  submittedAt_.clear();
  lastTraffic_.clear();
  first_ = true;
  batches_ = 0;
  active_.store(true, std::memory_order_release);
  return Status::ok();
}

void Timeline::stop() {
  std::lock_guard lock(mutex_);
  close();
}

void Timeline::close() {
  if (!file_) return;
  active_.store(false, std::memory_order_release);
  std::fputs("\n]\n", file_);
  std::fclose(file_);
  file_ = nullptr;
  path_.clear();
}

Timeline::~Timeline() {
  std::lock_guard lock(mutex_);
  close();
}

double Timeline::micros(Clock::time_point t) const {
  return std::chrono::duration<double, std::micro>(t - origin_).count();
}

void Timeline::write(const std::string& event) {
  if (!first_) std::fputs(",\n", file_);
  first_ = false;
  std::fputs(event.c_str(), file_);
}

int Timeline::rowOf(int32_t processSet, const std::string& name) {
  auto [it, inserted] = rows_.try_emplace({processSet, name}, static_cast<int>(rows_.size()) + 1);
  if (inserted) {
    write(
        fmt::format(R"({{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"{}"}}}})",
                    processSet, it->second, jsonEscape(name)));
  }
  return it->second;
}

void Timeline::submitted(int32_t processSet, const std::string& name, Clock::time_point at) {
  if (!active()) return;
  std::lock_guard lock(mutex_);
  if (!file_) return;
  submittedAt_[{processSet, name}] = at;
}

void Timeline::cycle(int32_t processSet, uint64_t cycle, size_t responses) {
  if (!active()) return;
  std::lock_guard lock(mutex_);
  if (!file_ || !markCycles_) return;
  write(fmt::format(
      R"({{"name":"CYCLE {}","ph":"i","s":"p","pid":{},"tid":0,"ts":{:.3f},"args":{{"responses":{}}}}})",
      cycle, processSet, micros(Clock::now()), responses));
  std::fflush(file_);
}

void Timeline::arrived(int32_t processSet, const std::string& name, int32_t rank) {
  if (!active()) return;
  std::lock_guard lock(mutex_);
  if (!file_) return;
  const int row = rowOf(processSet, name);
  write(fmt::format(R"({{"name":"RANK {} READY","ph":"i","s":"t","pid":{},"tid":{},"ts":{:.3f}}})",
                    rank, processSet, row, micros(Clock::now())));
}

void Timeline::batch(int32_t processSet, const FusedBatch& batch,
                     std::span<const Response> responses, Clock::time_point start,
                     Clock::time_point end, Clock::time_point packed, Clock::time_point reduced,
                     const PhaseTotals* phases) {
  if (!active()) return;
  std::lock_guard lock(mutex_);
  if (!file_) return;
  const std::string activity = upper(opTypeName(batch.op));
  const bool phased =
      batch.needsPacking && packed != Clock::time_point{} && reduced != Clock::time_point{};
  const std::string split = phases ? phaseArgs(*phases, end - start, ++batches_) : std::string();
  auto span = [&](const char* name, int row, Clock::time_point from, Clock::time_point to,
                  uint64_t bytes, const std::string& extra = {}) {
    write(fmt::format(
        R"({{"name":"{}","ph":"X","pid":{},"tid":{},"ts":{:.3f},"dur":{:.3f},"args":{{"bytes":{},"batch_tensors":{}{}}}}})",
        name, processSet, row, micros(from), micros(to) - micros(from), bytes, batch.entries.size(),
        extra));
  };
  for (const FusedEntry& e : batch.entries) {
    const Response& p = responses[e.response];
    if (e.tensor >= p.tensorNames.size()) continue;
    const std::string& name = p.tensorNames[e.tensor];
    const int row = rowOf(processSet, name);
    auto sub = submittedAt_.find({processSet, name});
    if (sub != submittedAt_.end()) {
      span("WAIT_FOR_PEERS", row, sub->second, start, e.bytes);
      submittedAt_.erase(sub);
    }
    if (phased) {
      span("MEMCPY_IN_FUSION_BUFFER", row, start, packed, e.bytes);
      span(("FUSED_" + activity).c_str(), row, packed, reduced, e.bytes, split);
      span("MEMCPY_OUT_FUSION_BUFFER", row, reduced, end, e.bytes);
    } else {
      span(activity.c_str(), row, start, end, e.bytes, split);
    }
  }
  std::fflush(file_);
}

void Timeline::traffic(int32_t processSet, std::span<const int32_t> members,
                       std::span<const PeerTraffic> totals) {
  if (!active()) return;
  std::lock_guard lock(mutex_);
  if (!file_) return;
  const double now = micros(Clock::now());
  for (size_t r = 0; r < totals.size() && r < members.size(); ++r) {
    PeerTraffic& last = lastTraffic_[{processSet, members[r]}];
    const PeerTraffic& t = totals[r];
    const uint64_t sent = t.bytesSent - last.bytesSent;
    const uint64_t received = t.bytesReceived - last.bytesReceived;
    if (sent == 0 && received == 0) continue;
    // A rate over a few small messages is their latency, not the link's: shown from 256 KiB.
    const uint64_t busy = t.sendBusyNanos - last.sendBusyNanos;
    std::string rate;
    if (busy > 0 && sent >= (uint64_t{256} << 10)) {
      rate = fmt::format(R"(,"send_MB_per_s":{:.1f})",
                         static_cast<double>(sent) * 1e3 / static_cast<double>(busy));
    }
    write(fmt::format(
        R"({{"name":"LINK rank {}","ph":"C","pid":{},"ts":{:.3f},"args":{{"sent_MB":{:.6f},"received_MB":{:.6f}{}}}}})",
        members[r], processSet, now, static_cast<double>(sent) / 1e6,
        static_cast<double>(received) / 1e6, rate));
    last = t;
  }
  std::fflush(file_);
}

}  // namespace kolo::core
