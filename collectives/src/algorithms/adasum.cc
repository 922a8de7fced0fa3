// Adasum allreduce (ReduceOp::kAdasum): the adaptive-summation combination of gradients,
//   adasum(a, b) = a + b - (a.b / 2|a|^2) a - (a.b / 2|b|^2) b,
// applied over a power-of-two world by recursive vector halving, then the halves gathered back.
//
// Halving, at distances d = 1, 2, 4, ... n/2: a rank and its partner r ^ d hold the same segment
// [off, off + len) of two vectors, the lower rank's side's and the upper rank's side's. The lower
// rank keeps the first len/2 elements (rounded down), the upper rank the rest; each sends the
// other its half. Each rank then holds a piece of `a` (the vector of the lower half of its group
// of 2d ranks) and the same piece of `b` (the upper half's). The group sums a.b, |a|^2 and |b|^2
// over its pieces (float64, recursive doubling among the 2d ranks, so every member holds
// identical sums) and every rank replaces its piece by ca * a + cb * b with ca = 1 - a.b/2|a|^2,
// cb = 1 - a.b/2|b|^2 (a coefficient is 1 where its norm is 0). Elements are combined in float64
// and rounded to the tensor's type after every level. After log2(n) levels each rank holds
// 1/n of the result; the gather retraces the levels in reverse, so every rank ends with the
// same bytes (each element was computed by exactly one rank).
//
// The whole buffer is one vector: callers that want per-tensor dot products (the runtime) run one
// allreduce per tensor. Float types only; a world that is not a power of two is an error.
#include <bit>
#include <cstring>
#include <vector>

#include "algorithms/internal.h"
#include "algorithms/transfer_request_list.h"
#include "kolo/collectives/reduce.h"

namespace kolo::coll {
namespace {

struct Segment {
  size_t off = 0;
  size_t len = 0;
};

struct Sums {
  double ab = 0;
  double aa = 0;
  double bb = 0;
};

double loadElement(DataType type, const std::byte* base, size_t i) {
  switch (type) {
    case DataType::kFloat16: {
      uint16_t h;
      std::memcpy(&h, base + 2 * i, 2);
      return halfToFloat(h);
    }
    case DataType::kBFloat16: {
      uint16_t h;
      std::memcpy(&h, base + 2 * i, 2);
      return bfloat16ToFloat(h);
    }
    case DataType::kFloat32: {
      float f;
      std::memcpy(&f, base + 4 * i, 4);
      return f;
    }
    default: {
      double d;
      std::memcpy(&d, base + 8 * i, 8);
      return d;
    }
  }
}

void storeElement(DataType type, std::byte* base, size_t i, double v) {
  switch (type) {
    case DataType::kFloat16: {
      const uint16_t h = floatToHalf(static_cast<float>(v));
      std::memcpy(base + 2 * i, &h, 2);
      return;
    }
    case DataType::kBFloat16: {
      const uint16_t h = floatToBfloat16(static_cast<float>(v));
      std::memcpy(base + 2 * i, &h, 2);
      return;
    }
    case DataType::kFloat32: {
      const float f = static_cast<float>(v);
      std::memcpy(base + 4 * i, &f, 4);
      return;
    }
    default:
      std::memcpy(base + 8 * i, &v, 8);
      return;
  }
}

Sums partialSums(DataType type, const std::byte* a, const std::byte* b, size_t count) {
  Sums s;
  for (size_t i = 0; i < count; ++i) {
    const double x = loadElement(type, a, i);
    const double y = loadElement(type, b, i);
    s.ab += x * y;
    s.aa += x * x;
    s.bb += y * y;
  }
  return s;
}

double coefficient(double dot, double normSquared) {
  return normSquared == 0.0 ? 1.0 : 1.0 - dot / (2.0 * normSquared);
}

// dst[i] = ca * a[i] + cb * b[i], in float64, rounded to `type`. dst may equal a or b.
void combine(DataType type, std::byte* dst, const std::byte* a, const std::byte* b, size_t count,
             const Sums& s) {
  const double ca = coefficient(s.ab, s.aa);
  const double cb = coefficient(s.ab, s.bb);
  for (size_t i = 0; i < count; ++i) {
    storeElement(type, dst, i, ca * loadElement(type, a, i) + cb * loadElement(type, b, i));
  }
}

class AdasumRun {
 public:
  AdasumRun(Communicator& comm, void* buffer, size_t count, DataType type, uint64_t tagBase)
      : comm_(comm),
        data_(static_cast<std::byte*>(buffer)),
        type_(type),
        elem_(dataTypeSize(type)),
        tagBase_(tagBase),
        deadline_(comm.opDeadline()),
        segment_{0, count} {}

  Status run() {
    const int n = comm_.size();
    std::vector<Segment> parents;
    for (int d = 1; d < n; d <<= 1) {
      parents.push_back(segment_);
      KOLO_RETURN_IF_ERROR(halve(d));
    }
    for (int d = n >> 1; d >= 1; d >>= 1) {
      KOLO_RETURN_IF_ERROR(gather(d, parents.back()));
      segment_ = parents.back();
      parents.pop_back();
    }
    return Status::ok();
  }

 private:
  // The two halves of `s`: the lower rank of a pair keeps the first, the upper the second.
  static Segment firstHalf(Segment s) { return {s.off, s.len / 2}; }
  static Segment secondHalf(Segment s) { return {s.off + s.len / 2, s.len - s.len / 2}; }
  std::span<std::byte> bytesOf(Segment s) { return {data_ + s.off * elem_, s.len * elem_}; }

  Status exchange(int partner, uint64_t tag, std::span<const std::byte> out,
                  std::span<std::byte> in) {
    Channel& peer = comm_.peer(partner);
    TransferRequestList requests;
    requests.add(peer.postRecv(tagBase_ + tag, in));
    requests.add(peer.postSend(tagBase_ + tag, out));
    return comm_.waitAll(requests.all(), deadline_);
  }

  Status halve(int d) {
    const int r = comm_.rank();
    const bool lower = (r & d) == 0;
    const Segment keep = lower ? firstHalf(segment_) : secondHalf(segment_);
    const Segment give = lower ? secondHalf(segment_) : firstHalf(segment_);
    std::vector<std::byte> theirs(keep.len * elem_);
    KOLO_RETURN_IF_ERROR(exchange(r ^ d, nextTag(), bytesOf(give), theirs));
    std::byte* mine = bytesOf(keep).data();
    const std::byte* a = lower ? mine : theirs.data();
    const std::byte* b = lower ? theirs.data() : mine;
    Sums sums = partialSums(type_, a, b, keep.len);
    KOLO_RETURN_IF_ERROR(sumOverGroup(d, sums));
    combine(type_, mine, a, b, keep.len, sums);
    segment_ = keep;
    return Status::ok();
  }

  // Sums over the 2d ranks that share rank / 2d, by recursive doubling; both partners add in
  // rank order, so the group ends with identical sums.
  Status sumOverGroup(int d, Sums& sums) {
    const int r = comm_.rank();
    for (int step = 1; step <= d; step <<= 1) {
      const int partner = r ^ step;
      Sums other;
      auto out = std::as_bytes(std::span<Sums, 1>(&sums, 1));
      auto in = std::as_writable_bytes(std::span<Sums, 1>(&other, 1));
      KOLO_RETURN_IF_ERROR(exchange(partner, nextTag(), out, in));
      const Sums& lo = r < partner ? sums : other;
      const Sums& hi = r < partner ? other : sums;
      sums = {lo.ab + hi.ab, lo.aa + hi.aa, lo.bb + hi.bb};
    }
    return Status::ok();
  }

  // The reverse of halve(d): the partner holds the other half of `parent`.
  Status gather(int d, Segment parent) {
    const int r = comm_.rank();
    const bool lower = (r & d) == 0;
    const Segment theirs = lower ? secondHalf(parent) : firstHalf(parent);
    return exchange(r ^ d, nextTag(), bytesOf(segment_), bytesOf(theirs));
  }

  uint64_t nextTag() { return tag_++; }

  Communicator& comm_;
  std::byte* data_;
  DataType type_;
  size_t elem_;
  uint64_t tagBase_;
  Deadline deadline_;
  Segment segment_;
  uint64_t tag_ = 0;
};

}  // namespace

Status checkAdasum(const Communicator& comm, DataType type) {
  if (!isFloatingPoint(type)) {
    return makeStatus(Code::kInvalidArgument,
                      "adasum needs a floating-point type (float16, bfloat16, float32, float64), "
                      "got {}",
                      dataTypeName(type));
  }
  if (!std::has_single_bit(static_cast<unsigned>(comm.size()))) {
    return makeStatus(Code::kInvalidArgument,
                      "adasum needs a power-of-two number of ranks (as Horovod), got {}",
                      comm.size());
  }
  return Status::ok();
}

Status runAdasumAllreduce(Communicator& comm, const CollectiveArgs& a) {
  if (a.op != ReduceOp::kAdasum) {
    return makeStatus(Code::kInvalidArgument, "the adasum algorithm runs only op=adasum, got {}",
                      reduceOpName(a.op));
  }
  KOLO_RETURN_IF_ERROR(checkAdasum(comm, a.type).withContext("allreduce"));
  const size_t bytes = a.count * dataTypeSize(a.type);
  if (a.send != a.recv && bytes != 0) std::memcpy(a.recv, a.send, bytes);
  if (comm.size() == 1) return Status::ok();
  return AdasumRun(comm, a.recv, a.count, a.type, a.tagBase)
      .run()
      .withContext("allreduce (adasum)");
}

}  // namespace kolo::coll
