#include "kolo/rendezvous/file_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace kolo {
namespace {

Expected<std::string> readWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kUnavailable, "missing");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Status writeAtomically(const std::string& path, std::string_view value) {
  std::string tmp = fmt::format("{}.tmp.{}.{}", path, getpid(),
                                std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return makeStatus(Code::kIoError, "file store: cannot write {}: {}", tmp,
                        std::strerror(errno));
    out.write(value.data(), static_cast<std::streamsize>(value.size()));
    if (!out) return makeStatus(Code::kIoError, "file store: short write to {}", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return makeStatus(Code::kIoError, "file store: rename {} -> {}: {}", tmp, path,
                      std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

Expected<std::unique_ptr<FileStore>> FileStore::open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) {
    return makeStatus(Code::kIoError, "file store: cannot create directory {}: {}", directory,
                      ec.message());
  }
  return std::unique_ptr<FileStore>(new FileStore(directory));
}

std::string FileStore::pathFor(const std::string& key) const {
  std::string safe = key;
  std::replace(safe.begin(), safe.end(), '/', '%');
  return directory_ + "/" + safe;
}

Status FileStore::set(const std::string& key, std::string_view value) {
  return writeAtomically(pathFor(key), value);
}

Expected<std::string> FileStore::get(const std::string& key, Deadline deadline) {
  auto delay = std::chrono::microseconds(50);
  const std::string path = pathFor(key);
  while (true) {
    auto value = readWhole(path);
    if (value.hasValue()) return value;
    if (deadline.expired()) {
      return makeStatus(Code::kTimeout, "{}: key '{}' was not set before the deadline", describe(),
                        key);
    }
    std::this_thread::sleep_for(delay);
    delay = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(10));
  }
}

Expected<int64_t> FileStore::add(const std::string& key, int64_t delta) {
  std::string lockPath = pathFor(key) + ".lock";
  int fd = ::open(lockPath.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    return makeStatus(Code::kIoError, "file store: cannot open {}: {}", lockPath,
                      std::strerror(errno));
  }
  if (flock(fd, LOCK_EX) != 0) {
    ::close(fd);
    return makeStatus(Code::kIoError, "file store: flock {}: {}", lockPath, std::strerror(errno));
  }
  int64_t current = 0;
  if (auto value = readWhole(pathFor(key)); value.hasValue()) current = std::stoll(value.value());
  int64_t result = current + delta;
  Status written = writeAtomically(pathFor(key), std::to_string(result));
  flock(fd, LOCK_UN);
  ::close(fd);
  if (!written.isOk()) return written;
  return result;
}

}  // namespace kolo
