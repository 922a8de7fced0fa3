// FileStore: a KvStore in a directory every rank can see (local disk or NFS).
// set() writes a temporary file and renames it, so readers never see half a value;
// add() serializes through flock(2). get() polls with backoff up to 10 ms.
// Thread: any.
#pragma once

#include <string>

#include "kolo/base/kv_store.h"

namespace kolo {

class FileStore final : public KvStore {
 public:
  // Creates `directory` if needed.
  static Expected<std::unique_ptr<FileStore>> open(const std::string& directory);

  Status set(const std::string& key, std::string_view value) override;
  Expected<std::string> get(const std::string& key, Deadline deadline) override;
  Expected<int64_t> add(const std::string& key, int64_t delta) override;
  std::string describe() const override { return "file store " + directory_; }

 private:
  explicit FileStore(std::string directory) : directory_(std::move(directory)) {}
  std::string pathFor(const std::string& key) const;
  std::string directory_;
};

}  // namespace kolo
