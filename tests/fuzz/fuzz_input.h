// FuzzInput: takes typed values off the front of a fuzzer's byte string (zero once it runs out),
// so a target can derive its choices and its data from one input. FUZZ_CHECK aborts with a
// message when a property fails, which libFuzzer records as a crash like any sanitizer report.
// Shared by the fuzz targets and the seed generator (which writes inputs in the same layout).
// Thread: caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                 \
      std::fputc('\n', stderr);                                                          \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace kolo::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : bytes_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return bytes_.empty(); }
  size_t remaining() const { return bytes_.size(); }

  uint8_t u8() {
    if (bytes_.empty()) return 0;
    auto v = static_cast<uint8_t>(bytes_.front());
    bytes_.remove_prefix(1);
    return v;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return static_cast<uint32_t>(u16()) | (static_cast<uint32_t>(u16()) << 16); }
  // Up to `n` bytes (fewer at the end of the input).
  std::string_view take(size_t n) {
    std::string_view out = bytes_.substr(0, n);
    bytes_.remove_prefix(out.size());
    return out;
  }
  // A u16 length, then that many bytes: the layout of a length-prefixed field in the seeds.
  std::string_view sized() { return take(u16()); }
  std::string_view rest() { return take(bytes_.size()); }

 private:
  std::string_view bytes_;
};

// The writer side of the same layout, for the seed generator.
inline void putU8(std::string& out, uint8_t v) {
  out.push_back(static_cast<char>(v));
}
inline void putU16(std::string& out, uint16_t v) {
  putU8(out, static_cast<uint8_t>(v & 0xff));
  putU8(out, static_cast<uint8_t>(v >> 8));
}
inline void putSized(std::string& out, std::string_view bytes) {
  putU16(out, static_cast<uint16_t>(bytes.size()));
  out.append(bytes);
}

}  // namespace kolo::fuzz
