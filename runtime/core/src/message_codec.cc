// Binary encoding of requests and responses. Layout: 4-byte magic, 1-byte version, then the
// fields in declaration order (integers as zigzag varints, strings and vectors
// length-prefixed). Scale factors are almost always 1, so a flag byte says which of them
// follow as 8 raw little-endian bytes. A typical gradient request takes ~35 bytes.
#include <bit>

#include "kolo/core/request.h"
#include "kolo/core/response.h"
#include "wire.h"

namespace kolo::core {
namespace {

using wire::WireReader;
using wire::WireWriter;

constexpr uint8_t kVersion = 1;
constexpr uint32_t magic(char a, char b, char c, char d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) |
         static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
}
constexpr uint32_t kRequestMagic = magic('K', 'R', 'E', 'Q');
constexpr uint32_t kRequestListMagic = magic('K', 'R', 'Q', 'L');
constexpr uint32_t kResponseMagic = magic('K', 'R', 'S', 'P');
constexpr uint32_t kResponseListMagic = magic('K', 'R', 'S', 'L');

// The smallest encodings, used to bound counts before allocating.
constexpr size_t kMinRequestBytes = 12;
constexpr size_t kMinResponseBytes = 12;

constexpr uint8_t kHasPrescale = 1;
constexpr uint8_t kHasPostscale = 2;

void writeScales(WireWriter& w, double prescale, double postscale) {
  // Bitwise comparison: -0.0 and NaN payloads survive the round trip.
  auto isOne = [](double v) { return std::bit_cast<uint64_t>(v) == std::bit_cast<uint64_t>(1.0); };
  const uint8_t flags =
      (isOne(prescale) ? 0 : kHasPrescale) | (isOne(postscale) ? 0 : kHasPostscale);
  w.u8(flags);
  if (flags & kHasPrescale) w.f64(prescale);
  if (flags & kHasPostscale) w.f64(postscale);
}

Status readScales(WireReader& r, double& prescale, double& postscale) {
  uint8_t flags = 0;
  KOLO_RETURN_IF_ERROR(r.u8(flags));
  if (flags & ~(kHasPrescale | kHasPostscale)) {
    return makeStatus(Code::kInvalidArgument, "scale flags 0x{:02x} have unknown bits", flags);
  }
  prescale = 1.0;
  postscale = 1.0;
  if (flags & kHasPrescale) KOLO_RETURN_IF_ERROR(r.f64(prescale));
  if (flags & kHasPostscale) KOLO_RETURN_IF_ERROR(r.f64(postscale));
  return Status::ok();
}

void writeHeader(WireWriter& w, uint32_t magicValue) {
  w.u32Fixed(magicValue);
  w.u8(kVersion);
}

Status readHeader(WireReader& r, uint32_t expected, const char* what) {
  uint32_t got = 0;
  KOLO_RETURN_IF_ERROR(r.u32Fixed(got).withContext(what));
  if (got != expected) {
    return makeStatus(Code::kInvalidArgument, "{}: bad magic 0x{:08x} (expected 0x{:08x})", what,
                      got, expected);
  }
  uint8_t version = 0;
  KOLO_RETURN_IF_ERROR(r.u8(version).withContext(what));
  if (version != kVersion) {
    return makeStatus(Code::kInvalidArgument, "{}: unsupported version {} (this build speaks {})",
                      what, version, kVersion);
  }
  return Status::ok();
}

template <typename Enum>
Status readEnum(WireReader& r, Enum& out, int limit, const char* field) {
  uint8_t v = 0;
  KOLO_RETURN_IF_ERROR(r.u8(v));
  if (v >= limit) {
    return makeStatus(Code::kInvalidArgument, "{} value {} out of range [0, {})", field, v, limit);
  }
  out = static_cast<Enum>(v);
  return Status::ok();
}

Status readBool(WireReader& r, bool& out, const char* field) {
  uint8_t v = 0;
  KOLO_RETURN_IF_ERROR(r.u8(v));
  if (v > 1) return makeStatus(Code::kInvalidArgument, "{} flag has value {}", field, v);
  out = v == 1;
  return Status::ok();
}

constexpr int kDataTypeCount = static_cast<int>(std::size(kAllDataTypes));
constexpr int kCodeCount = static_cast<int>(Code::kInternal) + 1;

void writeRequest(WireWriter& w, const Request& q) {
  w.svarint(q.rank);
  w.str(q.tensorName);
  w.u8(static_cast<uint8_t>(q.op));
  w.u8(static_cast<uint8_t>(q.dtype));
  w.svarints(q.shape);
  w.u8(static_cast<uint8_t>(q.reduceOp));
  w.svarint(q.rootRank);
  w.svarint(q.device);
  writeScales(w, q.prescale, q.postscale);
  w.svarint(q.processSetId);
  w.svarint(q.groupId);
  w.svarint(q.groupSize);
  w.svarints(q.splits);
}

Status readRequest(WireReader& r, Request& q) {
  KOLO_RETURN_IF_ERROR(r.i32(q.rank, "rank"));
  KOLO_RETURN_IF_ERROR(r.str(q.tensorName, "tensor name"));
  KOLO_RETURN_IF_ERROR(readEnum(r, q.op, kOpTypeCount, "op type"));
  KOLO_RETURN_IF_ERROR(readEnum(r, q.dtype, kDataTypeCount, "dtype"));
  KOLO_RETURN_IF_ERROR(r.svarints(q.shape, "shape"));
  KOLO_RETURN_IF_ERROR(readEnum(r, q.reduceOp, kReduceOpCount, "reduce op"));
  KOLO_RETURN_IF_ERROR(r.i32(q.rootRank, "root rank"));
  KOLO_RETURN_IF_ERROR(r.i32(q.device, "device"));
  KOLO_RETURN_IF_ERROR(readScales(r, q.prescale, q.postscale));
  KOLO_RETURN_IF_ERROR(r.i32(q.processSetId, "process set id"));
  KOLO_RETURN_IF_ERROR(r.i32(q.groupId, "group id"));
  KOLO_RETURN_IF_ERROR(r.i32(q.groupSize, "group size"));
  KOLO_RETURN_IF_ERROR(r.svarints(q.splits, "splits"));
  return Status::ok();
}

void writeResponse(WireWriter& w, const Response& p) {
  w.u8(static_cast<uint8_t>(p.op));
  w.varint(p.tensorNames.size());
  for (const auto& name : p.tensorNames) w.str(name);
  w.u8(static_cast<uint8_t>(p.dtype));
  w.u8(static_cast<uint8_t>(p.reduceOp));
  w.svarint(p.rootRank);
  w.svarint(p.device);
  writeScales(w, p.prescale, p.postscale);
  w.svarint(p.processSetId);
  w.svarint(p.groupId);
  w.svarints(p.tensorElements);
  w.svarints(p.tensorSizes);
  w.u8(static_cast<uint8_t>(p.errorCode));
  w.str(p.errorMessage);
}

Status readResponse(WireReader& r, Response& p) {
  KOLO_RETURN_IF_ERROR(readEnum(r, p.op, kOpTypeCount, "op type"));
  uint64_t names = 0;
  KOLO_RETURN_IF_ERROR(r.count(names, 1, "tensor name"));
  p.tensorNames.resize(names);
  for (auto& name : p.tensorNames) KOLO_RETURN_IF_ERROR(r.str(name, "tensor name"));
  KOLO_RETURN_IF_ERROR(readEnum(r, p.dtype, kDataTypeCount, "dtype"));
  KOLO_RETURN_IF_ERROR(readEnum(r, p.reduceOp, kReduceOpCount, "reduce op"));
  KOLO_RETURN_IF_ERROR(r.i32(p.rootRank, "root rank"));
  KOLO_RETURN_IF_ERROR(r.i32(p.device, "device"));
  KOLO_RETURN_IF_ERROR(readScales(r, p.prescale, p.postscale));
  KOLO_RETURN_IF_ERROR(r.i32(p.processSetId, "process set id"));
  KOLO_RETURN_IF_ERROR(r.i32(p.groupId, "group id"));
  KOLO_RETURN_IF_ERROR(r.svarints(p.tensorElements, "tensor elements"));
  KOLO_RETURN_IF_ERROR(r.svarints(p.tensorSizes, "tensor sizes"));
  KOLO_RETURN_IF_ERROR(readEnum(r, p.errorCode, kCodeCount, "error code"));
  KOLO_RETURN_IF_ERROR(r.str(p.errorMessage, "error message"));
  return Status::ok();
}

}  // namespace

std::vector<std::byte> serialize(const Request& request) {
  WireWriter w;
  writeHeader(w, kRequestMagic);
  writeRequest(w, request);
  return w.take();
}

std::vector<std::byte> serialize(const RequestList& list) {
  WireWriter w;
  writeHeader(w, kRequestListMagic);
  w.svarint(list.rank);
  w.u8(list.shutdown ? 1 : 0);
  w.varint(list.requests.size());
  for (const auto& q : list.requests) writeRequest(w, q);
  return w.take();
}

std::vector<std::byte> serialize(const Response& response) {
  WireWriter w;
  writeHeader(w, kResponseMagic);
  writeResponse(w, response);
  return w.take();
}

std::vector<std::byte> serialize(const ResponseList& list) {
  WireWriter w;
  writeHeader(w, kResponseListMagic);
  w.u8(list.shutdown ? 1 : 0);
  w.varint(list.responses.size());
  for (const auto& p : list.responses) writeResponse(w, p);
  return w.take();
}

Expected<Request> parseRequest(std::span<const std::byte> bytes) {
  WireReader r(bytes);
  KOLO_RETURN_IF_ERROR(readHeader(r, kRequestMagic, "request"));
  Request q;
  KOLO_RETURN_IF_ERROR(readRequest(r, q).withContext("request"));
  KOLO_RETURN_IF_ERROR(r.finish("request"));
  return q;
}

Expected<RequestList> parseRequestList(std::span<const std::byte> bytes) {
  WireReader r(bytes);
  KOLO_RETURN_IF_ERROR(readHeader(r, kRequestListMagic, "request list"));
  RequestList list;
  KOLO_RETURN_IF_ERROR(r.i32(list.rank, "rank").withContext("request list"));
  KOLO_RETURN_IF_ERROR(readBool(r, list.shutdown, "shutdown").withContext("request list"));
  uint64_t n = 0;
  KOLO_RETURN_IF_ERROR(r.count(n, kMinRequestBytes, "request").withContext("request list"));
  list.requests.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    if (Status s = readRequest(r, list.requests[i]); !s.isOk()) {
      return s.withContext(fmt::format("request list: request {} of {}", i, n));
    }
  }
  KOLO_RETURN_IF_ERROR(r.finish("request list"));
  return list;
}

Expected<Response> parseResponse(std::span<const std::byte> bytes) {
  WireReader r(bytes);
  KOLO_RETURN_IF_ERROR(readHeader(r, kResponseMagic, "response"));
  Response p;
  KOLO_RETURN_IF_ERROR(readResponse(r, p).withContext("response"));
  KOLO_RETURN_IF_ERROR(r.finish("response"));
  return p;
}

Expected<ResponseList> parseResponseList(std::span<const std::byte> bytes) {
  WireReader r(bytes);
  KOLO_RETURN_IF_ERROR(readHeader(r, kResponseListMagic, "response list"));
  ResponseList list;
  KOLO_RETURN_IF_ERROR(readBool(r, list.shutdown, "shutdown").withContext("response list"));
  uint64_t n = 0;
  KOLO_RETURN_IF_ERROR(r.count(n, kMinResponseBytes, "response").withContext("response list"));
  list.responses.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    if (Status s = readResponse(r, list.responses[i]); !s.isOk()) {
      return s.withContext(fmt::format("response list: response {} of {}", i, n));
    }
  }
  KOLO_RETURN_IF_ERROR(r.finish("response list"));
  return list;
}

}  // namespace kolo::core
