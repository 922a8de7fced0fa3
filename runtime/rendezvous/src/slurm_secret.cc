// The secret of a job step started by srun: KOLO_SECRET when exported, else derived from the
// user's secret file (see kolo/rendezvous/slurm_rendezvous.h and docs/SECURITY.md).
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kolo/base/host_address.h"
#include "kolo/base/settings.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/slurm_rendezvous.h"

namespace kolo {
namespace {

constexpr size_t kMinFileBytes = 32;

Expected<std::string> secretFilePath() {
  if (auto path = settingText("KOLO_SECRET_FILE")) return *path;
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    return Status(Code::kInvalidUsage,
                  "HOME is not set, so Kolo has no ~/.kolo/secret for the srun bootstrap: set "
                  "KOLO_SECRET_FILE to a file only you can read, or export KOLO_SECRET");
  }
  return std::string(home) + "/.kolo/secret";
}

// Creates the file with 32 random bytes (hex), mode 0600, atomically: a temporary file linked
// into place, so ranks creating it at once on a shared home all read the same content.
Status createSecretFile(const std::string& path) {
  const std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return makeStatus(Code::kIoError, "cannot create {}: {}", dir, std::strerror(errno));
  }
  std::string bytes(kMinFileBytes, '\0');
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return makeStatus(Code::kIoError, "getrandom failed: {}", std::strerror(errno));
  }
  const std::string host = hostName();
  const std::string temp = fmt::format("{}.{}.{}", path, host, ::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return makeStatus(Code::kIoError, "cannot create {}: {}", temp, std::strerror(errno));
  const std::string text = protocol::toHex(bytes) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  const int linked = written ? ::link(temp.c_str(), path.c_str()) : -1;
  const int linkErrno = errno;
  ::unlink(temp.c_str());
  if (!written || (linked != 0 && linkErrno != EEXIST)) {
    return makeStatus(Code::kIoError, "cannot create {}: {}", path, std::strerror(linkErrno));
  }
  return Status::ok();
}

Expected<std::string> readSecretFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    KOLO_RETURN_IF_ERROR(createSecretFile(path));
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return makeStatus(Code::kIoError, "cannot open {}: {}", path, std::strerror(errno));
  struct stat st {};
  std::string content(4096, '\0');
  ssize_t n = ::fstat(fd, &st) == 0 ? ::read(fd, content.data(), content.size()) : -1;
  ::close(fd);
  if (n < 0) return makeStatus(Code::kIoError, "cannot read {}: {}", path, std::strerror(errno));
  if (st.st_uid != ::getuid() || (st.st_mode & 077) != 0 || !S_ISREG(st.st_mode)) {
    return makeStatus(Code::kInvalidUsage,
                      "the job secret file {} must be a regular file owned by you and readable "
                      "by no one else (it is mode {:o}, owner uid {}): chmod 600 {}",
                      path, st.st_mode & 0777, st.st_uid, path);
  }
  content.resize(static_cast<size_t>(n));
  while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.pop_back();
  if (content.size() < kMinFileBytes) {
    return makeStatus(Code::kInvalidUsage,
                      "the job secret file {} holds {} bytes; it needs at "
                      "least {} (delete it and Kolo makes a new one)",
                      path, content.size(), kMinFileBytes);
  }
  return content;
}

}  // namespace

Expected<std::string> slurmStepSecret(const SlurmStep& step, const std::string& exported) {
  if (!exported.empty()) return exported;
  KOLO_ASSIGN_OR_RETURN(std::string path, secretFilePath());
  auto key = readSecretFile(path);
  if (!key) return key.status().withContext("deriving the Slurm step's secret");
  const char* cluster = std::getenv("SLURM_CLUSTER_NAME");
  return protocol::hmacSha256(*key, fmt::format("kolo-slurm-step/{}/{}.{}", cluster ? cluster : "",
                                                step.jobId, step.stepId));
}

}  // namespace kolo
