// MpiKvStore: the KvStore the shm and tcp transports bootstrap through when the job was started
// by mpirun, so no KOLO_STORE is needed. Rank 0 keeps the map and a service thread answers the
// other ranks' set/get/add over a private duplicate of the communicator; rank 0's own calls
// touch the map directly. A get of a missing key polls every millisecond until its deadline:
// bootstrap does a few dozen calls, so simplicity beats a notification protocol here.
// Thread: any caller thread (calls are serialised per rank); rank 0 also runs the service
// thread until close().
#pragma once

#include <mpi.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "kolo/base/kv_store.h"

namespace kolo {

class MpiKvStore final : public KvStore {
 public:
  // Collective over `parent`: every rank calls it.
  static Expected<std::unique_ptr<MpiKvStore>> create(MPI_Comm parent, double timeoutSeconds);
  ~MpiKvStore() override;

  Status set(const std::string& key, std::string_view value) override;
  Expected<std::string> get(const std::string& key, Deadline deadline) override;
  Expected<int64_t> add(const std::string& key, int64_t delta) override;
  std::string describe() const override;

  // Collective: waits until every rank is done with the store, then stops rank 0's service
  // thread. Called by the destructor if not before.
  Status close(Deadline deadline);

 private:
  enum class Op : uint8_t { kSet = 1, kGet = 2, kAdd = 3 };
  MpiKvStore(MPI_Comm comm, int rank, int size, double timeoutSeconds);

  // Applies one operation to the map (rank 0). For kGet the reply starts with a found flag.
  std::string apply(Op op, const std::string& key, std::string_view payload);
  // Sends one request to rank 0 and returns its reply (ranks other than 0).
  Expected<std::string> call(Op op, const std::string& key, std::string_view payload);
  void serve();

  MPI_Comm comm_;
  int rank_;
  int size_;
  double timeoutSeconds_;
  std::mutex callMutex_;  // one request in flight per rank
  uint32_t nextRequestId_ = 0;  // guarded by callMutex_
  std::mutex mapMutex_;
  std::map<std::string, std::string> map_;
  std::atomic<bool> stop_{false};
  std::thread server_;
  bool closed_ = false;
};

}  // namespace kolo
