#include "transport/shm/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace kolo::shm {
namespace {

size_t roundUp(size_t v, size_t a) {
  return (v + a - 1) / a * a;
}

// Regions start on 4 KiB boundaries so a region's first page is not shared with the
// previous one's flags.
constexpr size_t kRegionAlign = 4096;

std::string errnoText(int err) {
  return std::strerror(err);
}

}  // namespace

SegmentLayout::SegmentLayout(const SegmentParams& p) : params_(p) {
  size_t off = roundUp(sizeof(SegmentHeader), kRegionAlign);
  control_ = off;
  off = roundUp(off + size_t(p.size) * sizeof(RankControl), kRegionAlign);
  rings_ = off;
  ringStride_ = roundUp(sizeof(RingHeader) + p.ringBytes, kRegionAlign);
  off += size_t(p.size) * size_t(p.size) * ringStride_;
  bell_ = off;
  off = roundUp(off + sizeof(ArenaBell), kRegionAlign);
  small_ = off;
  smallStride_ = roundUp(kSmallSlotDataOffset + p.smallBytes, kRegionAlign);
  off += size_t(p.size) * 2 * smallStride_;
  cells_ = off;
  off += size_t(p.size) * kBroadcastCells * smallStride_;
  staging_ = off;
  off += size_t(p.size) * p.pipelineDepth * p.chunkBytes;
  off = roundUp(off, kRegionAlign);
  result_ = off;
  off += p.pipelineDepth * p.chunkBytes;
  total_ = roundUp(off, kRegionAlign);
}

Expected<std::shared_ptr<ShmSegment>> ShmSegment::create(const std::string& name,
                                                         const SegmentParams& params) {
  SegmentLayout layout(params);
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0 && errno == EEXIST) {
    // Left behind by a dead job with the same id (we unlink as soon as every rank mapped it,
    // so only a crash inside the bootstrap window leaves one).
    shm_unlink(name.c_str());
    fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  }
  if (fd < 0) {
    return makeStatus(Code::kIoError, "shm_open({}) failed: {}", name, errnoText(errno));
  }
  if (ftruncate(fd, static_cast<off_t>(layout.totalBytes())) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return makeStatus(Code::kIoError, "ftruncate of shm segment {} to {} B failed: {}", name,
                      layout.totalBytes(), errnoText(err));
  }
  void* p = mmap(nullptr, layout.totalBytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(name.c_str());
    return makeStatus(Code::kIoError, "mmap of shm segment {} ({} B) failed: {}", name,
                      layout.totalBytes(), errnoText(err));
  }
  auto* base = static_cast<std::byte*>(p);
  // ftruncate gave zeroed pages; the placement-news only make the objects' lifetimes begin.
  for (int r = 0; r < params.size; ++r) new (base + layout.controlOffset(r)) RankControl();
  for (int i = 0; i < params.size; ++i) {
    for (int j = 0; j < params.size; ++j) new (base + layout.ringOffset(i, j)) RingHeader();
  }
  new (base + layout.bellOffset()) ArenaBell();
  for (int r = 0; r < params.size; ++r) {
    for (int parity = 0; parity < 2; ++parity) {
      new (base + layout.smallSlotOffset(r, parity)) SmallSlotHeader();
    }
  }
  auto* header = new (base) SegmentHeader();
  header->totalBytes = layout.totalBytes();
  header->size = params.size;
  header->pipelineDepth = static_cast<uint32_t>(params.pipelineDepth);
  header->ringBytes = params.ringBytes;
  header->smallBytes = params.smallBytes;
  header->chunkBytes = params.chunkBytes;
  std::atomic_ref<uint64_t>(header->magic).store(kSegmentMagic, std::memory_order_release);
  return std::shared_ptr<ShmSegment>(new ShmSegment(base, layout));
}

Expected<std::shared_ptr<ShmSegment>> ShmSegment::open(const std::string& name,
                                                       const SegmentParams& params) {
  SegmentLayout layout(params);
  int fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) {
    return makeStatus(Code::kIoError, "shm_open({}) failed: {}", name, errnoText(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != layout.totalBytes()) {
    close(fd);
    return makeStatus(Code::kMismatch,
                      "shm segment {} has {} B but this rank's layout needs {} B (world size {})",
                      name, static_cast<long long>(st.st_size), layout.totalBytes(), params.size);
  }
  void* p = mmap(nullptr, layout.totalBytes(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    return makeStatus(Code::kIoError, "mmap of shm segment {} ({} B) failed: {}", name,
                      layout.totalBytes(), errnoText(err));
  }
  auto segment = std::shared_ptr<ShmSegment>(new ShmSegment(static_cast<std::byte*>(p), layout));
  auto* header = reinterpret_cast<SegmentHeader*>(p);
  if (std::atomic_ref<uint64_t>(header->magic).load(std::memory_order_acquire) != kSegmentMagic ||
      header->size != params.size || header->ringBytes != params.ringBytes ||
      header->smallBytes != params.smallBytes || header->chunkBytes != params.chunkBytes ||
      header->pipelineDepth != params.pipelineDepth) {
    return makeStatus(Code::kMismatch,
                      "shm segment {} was laid out for world size {} (ring {} B, chunk {} B x {}), "
                      "this rank expects world size {} (ring {} B, chunk {} B x {})",
                      name, header->size, header->ringBytes, header->chunkBytes,
                      header->pipelineDepth, params.size, params.ringBytes, params.chunkBytes,
                      params.pipelineDepth);
  }
  return segment;
}

Status ShmSegment::unlink(const std::string& name) {
  if (shm_unlink(name.c_str()) != 0 && errno != ENOENT) {
    return makeStatus(Code::kIoError, "shm_unlink({}) failed: {}", name, errnoText(errno));
  }
  return Status::ok();
}

ShmSegment::~ShmSegment() {
  munmap(base_, layout_.totalBytes());
}

}  // namespace kolo::shm
