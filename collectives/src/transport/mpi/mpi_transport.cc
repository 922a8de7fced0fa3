#include "transport/mpi/mpi_transport.h"

#include <fmt/format.h>

#include <algorithm>

#include "transport/mpi/mpi_chunking.h"
#include "transport/mpi/mpi_env.h"

namespace kolo {
namespace {

// One Kolo message: one MPI request per chunk. Chunks of one message share the MPI tag; MPI's
// non-overtaking rule keeps them in order.
class MpiRequest final : public TransferRequest {
 public:
  MpiRequest(MpiTransport& transport, bool isSend, int peer, uint64_t tag, std::byte* data,
             size_t bytes)
      : transport_(transport), isSend_(isSend), peer_(peer), tag_(tag), bytes_(bytes) {
    const int mpiTag = transport.mpiTag(tag);
    auto lock = mpiCallLock();
    for (const CountChunk& chunk : splitCount(bytes, transport.maxCount())) {
      MPI_Request request = MPI_REQUEST_NULL;
      const int count = static_cast<int>(chunk.count);
      int rc = isSend ? MPI_Isend(data + chunk.offset, count, MPI_BYTE, peer, mpiTag,
                                  transport.comm(), &request)
                      : MPI_Irecv(data + chunk.offset, count, MPI_BYTE, peer, mpiTag,
                                  transport.comm(), &request);
      if (rc != MPI_SUCCESS) {
        status_ = mpiStatus(rc, isSend ? "MPI_Isend" : "MPI_Irecv").withContext(describe());
        finished_ = true;
        break;
      }
      requests_.push_back(request);
      expected_.push_back(count);
    }
    // Empty messages still travel, so a receive of 0 bytes matches a send of 0 bytes (and a
    // nonzero send to a zero-byte receive is reported as a size mismatch).
    if (bytes == 0 && !finished_) {
      MPI_Request request = MPI_REQUEST_NULL;
      int rc = isSend ? MPI_Isend(data, 0, MPI_BYTE, peer, mpiTag, transport.comm(), &request)
                      : MPI_Irecv(data, 0, MPI_BYTE, peer, mpiTag, transport.comm(), &request);
      if (rc != MPI_SUCCESS) {
        status_ = mpiStatus(rc, "posting an empty message").withContext(describe());
        finished_ = true;
      } else {
        requests_.push_back(request);
        expected_.push_back(0);
      }
    }
  }

  ~MpiRequest() override {
    if (!finished_) cancel();
  }

  bool test() override {
    if (finished_) return true;
    std::vector<MPI_Status> statuses(requests_.size());
    int done = 0;
    int rc;
    {
      auto lock = mpiCallLock();
      rc =
          MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, statuses.data());
    }
    if (rc == MPI_ERR_IN_STATUS) {
      for (const MPI_Status& s : statuses) {
        if (s.MPI_ERROR == MPI_ERR_TRUNCATE) {
          status_ =
              makeStatus(Code::kMismatch, "{}: the peer sent more than {} B", describe(), bytes_);
          break;
        }
        if (s.MPI_ERROR != MPI_SUCCESS && s.MPI_ERROR != MPI_ERR_PENDING) {
          status_ = mpiStatus(s.MPI_ERROR, "MPI request").withContext(describe());
          break;
        }
      }
      if (status_.isOk()) status_ = mpiStatus(rc, "MPI_Testall").withContext(describe());
      abandon();
      return true;
    }
    if (rc != MPI_SUCCESS) {
      status_ = mpiStatus(rc, "MPI_Testall").withContext(describe());
      abandon();
      return true;
    }
    if (!done) return false;
    finished_ = true;
    if (!isSend_) {
      for (size_t i = 0; i < statuses.size(); ++i) {
        int count = 0;
        MPI_Get_count(&statuses[i], MPI_BYTE, &count);
        if (count != expected_[i] && status_.isOk()) {
          status_ = makeStatus(Code::kMismatch, "{}: the peer sent fewer bytes ({} B in chunk {})",
                               describe(), count, i);
        }
      }
    }
    transport_.noteActivity();
    return true;
  }

  Status status() const override { return status_; }

  std::string describe() const override {
    return fmt::format("{} of {} B {} rank {} (tag {:#x})", isSend_ ? "send" : "recv", bytes_,
                       isSend_ ? "to" : "from", peer_, tag_);
  }

  void cancel() override {
    if (finished_) return;
    finished_ = true;
    abandon();
  }

 private:
  // Receives are cancelled and completed, so MPI no longer writes into the buffer. Open MPI
  // cannot cancel a send that already matched; those are released to finish on their own (a
  // cancelled collective leaves the communicator unusable anyway).
  void abandon() {
    finished_ = true;
    auto lock = mpiCallLock();
    for (MPI_Request& request : requests_) {
      if (request == MPI_REQUEST_NULL) continue;
      if (isSend_) {
        MPI_Request_free(&request);
      } else {
        MPI_Cancel(&request);
        MPI_Wait(&request, MPI_STATUS_IGNORE);
      }
    }
  }

  MpiTransport& transport_;
  bool isSend_;
  int peer_;
  uint64_t tag_;
  size_t bytes_;
  bool finished_ = false;
  Status status_;
  std::vector<MPI_Request> requests_;
  std::vector<int> expected_;
};

class MpiChannel final : public Channel {
 public:
  MpiChannel(MpiTransport& transport, int peer) : transport_(transport), peer_(peer) {}
  int peer() const override { return peer_; }
  TransferRequestPtr postSend(uint64_t tag, std::span<const std::byte> data) override {
    // MPI_Isend does not write the buffer; its C API just predates const.
    return std::make_unique<MpiRequest>(transport_, true, peer_, tag,
                                        const_cast<std::byte*>(data.data()), data.size());
  }
  TransferRequestPtr postRecv(uint64_t tag, std::span<std::byte> data) override {
    return std::make_unique<MpiRequest>(transport_, false, peer_, tag, data.data(), data.size());
  }

 private:
  MpiTransport& transport_;
  int peer_;
};

}  // namespace

Expected<std::unique_ptr<MpiTransport>> MpiTransport::create(MPI_Comm parent, size_t maxCount,
                                                             bool nativeCollectives) {
  KOLO_RETURN_IF_ERROR(ensureMpiInitialized());
  auto lock = mpiCallLock();
  MPI_Comm comm = MPI_COMM_NULL;
  KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Comm_dup(parent, &comm), "MPI_Comm_dup"));
  // Errors come back as codes Kolo turns into Status, instead of aborting the job.
  KOLO_RETURN_IF_ERROR(
      mpiStatus(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
  int rank = 0, size = 1, flag = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int* tagUpperBound = nullptr;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tagUpperBound, &flag);
  const int tagUb = flag && tagUpperBound != nullptr ? *tagUpperBound : 32767;
  if (maxCount == 0 || maxCount > kMpiMaxCount) maxCount = kMpiMaxCount;
  return std::unique_ptr<MpiTransport>(
      new MpiTransport(comm, rank, size, tagUb, maxCount, nativeCollectives));
}

MpiTransport::MpiTransport(MPI_Comm comm, int rank, int size, int tagUpperBound, size_t maxCount,
                           bool native)
    : comm_(comm),
      rank_(rank),
      size_(size),
      tagUpperBound_(tagUpperBound),
      maxCount_(maxCount),
      native_(native) {
  channels_.resize(size);
  for (int p = 0; p < size; ++p) {
    if (p != rank) channels_[p] = std::make_unique<MpiChannel>(*this, p);
  }
  collectives_ = std::make_unique<MpiCollectives>(comm, maxCount);
}

MpiTransport::~MpiTransport() {
  channels_.clear();
  collectives_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) {
    auto lock = mpiCallLock();
    MPI_Comm_free(&comm_);
  }
}

int MpiTransport::mpiTag(uint64_t tag) const {
  return mpiTagFor(tag, tagUpperBound_);
}

void MpiTransport::waitForActivity(uint32_t seenEpoch, std::chrono::microseconds timeout) {
  bell_.bell().wait(seenEpoch, std::min(timeout, kParkSlice));
}

}  // namespace kolo
