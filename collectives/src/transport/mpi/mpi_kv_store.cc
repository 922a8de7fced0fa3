#include "transport/mpi/mpi_kv_store.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <utility>

#include "kolo/base/logging.h"
#include "kolo/base/thread_name.h"
#include "transport/mpi/mpi_env.h"

namespace kolo {
namespace {

constexpr int kRequestTag = 1;
constexpr int kReplyTag = 2;

// TransferRequest: op (1 byte), request id (4 bytes), key length (4 bytes), key, payload.
// Reply: the request id (4 bytes), then the answer. The id lets a client drop a reply to a
// request it gave up on instead of taking it for the answer to its next one.
constexpr size_t kHeaderBytes = 9;

std::string encode(uint8_t op, uint32_t id, const std::string& key, std::string_view payload) {
  std::string out(kHeaderBytes, '\0');
  out[0] = static_cast<char>(op);
  std::memcpy(out.data() + 1, &id, 4);
  const uint32_t length = static_cast<uint32_t>(key.size());
  std::memcpy(out.data() + 5, &length, 4);
  out += key;
  out.append(payload.data(), payload.size());
  return out;
}

Status sendBytes(const std::string& bytes, int dest, int tag, MPI_Comm comm, Deadline deadline) {
  MPI_Request request = MPI_REQUEST_NULL;
  {
    auto lock = mpiCallLock();
    KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE,
                                             dest, tag, comm, &request),
                                   "MPI_Isend (store)"));
  }
  return waitMpi(&request, deadline, "a store message send");
}

// Receives the next message from `source` under `tag` if one is there (nullopt if not).
Expected<std::optional<std::pair<int, std::string>>> tryReceive(int source, int tag,
                                                                MPI_Comm comm) {
  auto lock = mpiCallLock();
  int flag = 0;
  MPI_Status status;
  KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Iprobe(source, tag, comm, &flag, &status), "MPI_Iprobe"));
  if (!flag) return std::optional<std::pair<int, std::string>>();
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  std::string bytes(static_cast<size_t>(count), '\0');
  KOLO_RETURN_IF_ERROR(mpiStatus(
      MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE),
      "MPI_Recv (store)"));
  return std::optional<std::pair<int, std::string>>(std::in_place, status.MPI_SOURCE,
                                                    std::move(bytes));
}

}  // namespace

Expected<std::unique_ptr<MpiKvStore>> MpiKvStore::create(MPI_Comm parent, double timeoutSeconds) {
  KOLO_RETURN_IF_ERROR(ensureMpiInitialized());
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  {
    auto lock = mpiCallLock();
    KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Comm_dup(parent, &comm), "MPI_Comm_dup (store)"));
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
  }
  std::unique_ptr<MpiKvStore> store(new MpiKvStore(comm, rank, size, timeoutSeconds));
  if (rank == 0 && size > 1) {
    store->server_ = std::thread([s = store.get()] {
      nameThisThread("kolo-mpi-kv");
      s->serve();
    });
  }
  return store;
}

MpiKvStore::MpiKvStore(MPI_Comm comm, int rank, int size, double timeoutSeconds)
    : comm_(comm), rank_(rank), size_(size), timeoutSeconds_(timeoutSeconds) {}

MpiKvStore::~MpiKvStore() {
  if (!closed_) {
    Status s = close(Deadline::afterSeconds(timeoutSeconds_));
    if (!s.isOk()) KOLO_LOG(kWarning, "mpi", "closing the MPI store: {}", s.toString());
  }
  if (server_.joinable()) {
    stop_ = true;
    server_.join();
  }
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) {
    auto lock = mpiCallLock();
    MPI_Comm_free(&comm_);
  }
}

std::string MpiKvStore::describe() const {
  return fmt::format("MPI store (rank 0 of {} ranks serves it)", size_);
}

std::string MpiKvStore::apply(Op op, const std::string& key, std::string_view payload) {
  std::lock_guard<std::mutex> lock(mapMutex_);
  switch (op) {
    case Op::kSet:
      map_[key] = std::string(payload);
      return "";
    case Op::kGet: {
      auto it = map_.find(key);
      return it == map_.end() ? std::string("0") : "1" + it->second;
    }
    case Op::kAdd: {
      int64_t delta = 0;
      if (payload.size() == sizeof(delta)) std::memcpy(&delta, payload.data(), sizeof(delta));
      auto& text = map_[key];
      const int64_t value = (text.empty() ? 0 : std::stoll(text)) + delta;
      text = std::to_string(value);
      return text;
    }
  }
  return "";
}

void MpiKvStore::serve() {
  while (!stop_.load(std::memory_order_acquire)) {
    auto message = tryReceive(MPI_ANY_SOURCE, kRequestTag, comm_);
    if (!message.hasValue()) {
      KOLO_LOG(kError, "mpi", "MPI store service: {}", message.status().toString());
      return;
    }
    if (!message.value()) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    const auto& [source, bytes] = *message.value();
    std::string reply;
    if (bytes.size() >= kHeaderBytes) {
      reply = bytes.substr(1, 4);
      uint32_t length = 0;
      std::memcpy(&length, bytes.data() + 5, 4);
      if (kHeaderBytes + static_cast<size_t>(length) <= bytes.size()) {
        const std::string key = bytes.substr(kHeaderBytes, length);
        reply += apply(static_cast<Op>(bytes[0]), key,
                       std::string_view(bytes).substr(kHeaderBytes + length));
      }
    }
    Status s = sendBytes(reply, source, kReplyTag, comm_, Deadline::afterSeconds(timeoutSeconds_));
    if (!s.isOk()) KOLO_LOG(kError, "mpi", "MPI store reply to rank {}: {}", source, s.toString());
  }
}

Expected<std::string> MpiKvStore::call(Op op, const std::string& key, std::string_view payload) {
  if (rank_ == 0 || size_ == 1) return apply(op, key, payload);
  std::lock_guard<std::mutex> lock(callMutex_);
  // Rank 0 answers every request at once, so the round trip gets the store's own timeout, not
  // the caller's (a get polling with an expired deadline still waits for its answer).
  const Deadline deadline = Deadline::afterSeconds(timeoutSeconds_);
  const uint32_t id = ++nextRequestId_;
  KOLO_RETURN_IF_ERROR(
      sendBytes(encode(static_cast<uint8_t>(op), id, key, payload), 0, kRequestTag, comm_, deadline)
          .withContext(fmt::format("rank {}: asking rank 0's MPI store about '{}'", rank_, key)));
  for (;;) {
    auto message = tryReceive(0, kReplyTag, comm_);
    if (!message.hasValue()) return message.status();
    if (message.value()) {
      std::string& reply = message.value()->second;
      uint32_t replyId = 0;
      if (reply.size() >= 4) std::memcpy(&replyId, reply.data(), 4);
      if (replyId == id) return reply.substr(4);
      continue;  // the answer to an earlier request that timed out
    }
    if (deadline.expired()) {
      return makeStatus(Code::kTimeout, "rank {}: rank 0's MPI store did not answer about '{}'",
                        rank_, key);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status MpiKvStore::set(const std::string& key, std::string_view value) {
  return call(Op::kSet, key, value).status();
}

Expected<std::string> MpiKvStore::get(const std::string& key, Deadline deadline) {
  for (;;) {
    KOLO_ASSIGN_OR_RETURN(std::string reply, call(Op::kGet, key, {}));
    if (!reply.empty() && reply[0] == '1') return reply.substr(1);
    if (deadline.expired()) {
      return makeStatus(Code::kTimeout, "rank {}: key '{}' was not set in the {} in time", rank_,
                        key, describe());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Expected<int64_t> MpiKvStore::add(const std::string& key, int64_t delta) {
  std::string payload(sizeof(delta), '\0');
  std::memcpy(payload.data(), &delta, sizeof(delta));
  KOLO_ASSIGN_OR_RETURN(std::string reply, call(Op::kAdd, key, payload));
  return static_cast<int64_t>(std::stoll(reply));
}

Status MpiKvStore::close(Deadline deadline) {
  if (closed_) return Status::ok();
  closed_ = true;
  MPI_Request request = MPI_REQUEST_NULL;
  {
    auto lock = mpiCallLock();
    KOLO_RETURN_IF_ERROR(mpiStatus(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier (store)"));
  }
  Status s = waitMpi(&request, deadline, "every rank to finish with the MPI store");
  stop_ = true;
  if (server_.joinable()) server_.join();
  return s;
}

}  // namespace kolo
