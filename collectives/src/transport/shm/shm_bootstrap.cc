#include "transport/shm/shm_bootstrap.h"

#include <unistd.h>

#include <string>

#include "transport/shm/shm_direct_arena.h"
#include "transport/shm/shm_segment.h"
#include "transport/shm/shm_transport.h"

namespace kolo {
namespace {

// POSIX shm names allow any character but '/'; keep them readable and short.
std::string segmentJobPart(const std::string& jobId) {
  std::string out;
  for (char ch : jobId.substr(0, 64)) {
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_' || ch == '.';
    out += plain ? ch : '_';
  }
  return out;
}

Status validate(const WorldSpec& spec, const ShmTuning& t) {
  if (spec.size < 1 || spec.rank < 0 || spec.rank >= spec.size) {
    return makeStatus(Code::kInvalidArgument, "shm world: rank {} is not in a world of size {}",
                      spec.rank, spec.size);
  }
  if (t.ringBytes < 4096 || (t.ringBytes & (t.ringBytes - 1)) != 0) {
    return makeStatus(Code::kInvalidArgument,
                      "shm ring size {} B must be a power of two of at least 4096", t.ringBytes);
  }
  if (t.chunkBytes < 4096 || t.chunkBytes % shm::kCacheLine != 0 || t.pipelineDepth < 2) {
    return makeStatus(Code::kInvalidArgument,
                      "shm chunk size {} B must be a multiple of 64 of at least 4096 and the "
                      "pipeline depth {} at least 2",
                      t.chunkBytes, t.pipelineDepth);
  }
  return Status::ok();
}

}  // namespace

Expected<ShmWorld> connectShm(KvStore& store, const WorldSpec& spec) {
  return connectShm(store, spec, ShmTuning{});
}

Expected<ShmWorld> connectShm(KvStore& store, const WorldSpec& spec, const ShmTuning& tuning) {
  KOLO_RETURN_IF_ERROR(validate(spec, tuning));
  const Deadline deadline = Deadline::afterSeconds(spec.connectTimeoutSeconds);
  shm::SegmentParams params{spec.size, tuning.ringBytes, tuning.smallBytes, tuning.chunkBytes,
                            tuning.pipelineDepth};
  // Every rank calls connectShm equally often per job, so its own call count names the world.
  KOLO_ASSIGN_OR_RETURN(int64_t attempt,
                        store.add(fmt::format("kolo/shm/{}/calls/{}", spec.jobId, spec.rank), 1));
  const std::string prefix = fmt::format("kolo/shm/{}/{}/", spec.jobId, attempt);

  std::string name;
  std::shared_ptr<shm::ShmSegment> segment;
  if (spec.rank == 0) {
    name = fmt::format("/kolo-{}-{}-{}", segmentJobPart(spec.jobId), getpid(), attempt);
    KOLO_ASSIGN_OR_RETURN(segment, shm::ShmSegment::create(name, params));
    Status st = store.set(prefix + "name", name);
    if (!st.isOk()) {
      (void)shm::ShmSegment::unlink(name);
      return st.withContext("shm bootstrap: publishing the segment name");
    }
  } else {
    auto got = store.get(prefix + "name", deadline);
    if (!got) {
      return got.status().withContext(fmt::format(
          "shm bootstrap of rank {}: waiting for rank 0 to create the segment", spec.rank));
    }
    name = std::move(got).value();
    KOLO_ASSIGN_OR_RETURN(segment, shm::ShmSegment::open(name, params));
  }
  segment->control(spec.rank).pid.store(static_cast<int32_t>(getpid()), std::memory_order_release);

  Status met;
  auto arrived = store.add(prefix + "arrived", 1);
  if (!arrived) {
    met = arrived.status();
  } else {
    if (*arrived == spec.size) met = store.set(prefix + "done", "1");
    if (met.isOk()) met = store.get(prefix + "done", deadline).status();
  }
  if (spec.rank == 0) {
    // Every rank has mapped the segment (or the world failed): the name is no longer needed.
    Status unlinked = shm::ShmSegment::unlink(name);
    if (met.isOk()) met = unlinked;
  }
  if (!met.isOk()) {
    return met.withContext(
        fmt::format("shm bootstrap of rank {}: waiting for all {} ranks to map {}", spec.rank,
                    spec.size, name));
  }
  ShmWorld world;
  world.transport = std::make_shared<shm::ShmTransport>(segment, spec.rank, spec.size,
                                                         tuning.pullMinBytes);
  world.arena = std::make_shared<shm::ShmDirectArena>(segment, spec.rank, spec.size,
                                                       tuning.streamingMinBytes);
  return world;
}

}  // namespace kolo
