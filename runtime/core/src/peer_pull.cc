#include "peer_pull.h"

#include <sys/prctl.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>

#include "kolo/base/logging.h"
#include "kolo/base/settings.h"

namespace kolo::core {
namespace {

std::atomic<int> gPullState{-1};  // -1: not read yet, 0: off, 1: on

bool yamaRestrictsToDescendants() {
  std::ifstream scope("/proc/sys/kernel/yama/ptrace_scope");
  int value = 0;
  return static_cast<bool>(scope >> value) && value == 1;
}

void turnOff(int error) {
  if (gPullState.exchange(0) == 1) {
    KOLO_LOG(kInfo, "p2p",
             "single-copy point-to-point unavailable ({}); large messages go through the "
             "shared-memory ring",
             std::strerror(error));
  }
}

}  // namespace

bool peerPullEnabled() {
  int state = gPullState.load(std::memory_order_relaxed);
  if (state < 0) {
    const int wanted = settingChoice("KOLO_SHM_SINGLE_COPY") == "auto" ? 1 : 0;
    gPullState.compare_exchange_strong(state, wanted);
    state = gPullState.load(std::memory_order_relaxed);
  }
  return state == 1;
}

void allowPeerPulls() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (yamaRestrictsToDescendants()) ::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  });
}

bool pullFromPeer(int32_t pid, uint64_t address, std::span<std::byte> dst) {
  size_t done = 0;
  while (done < dst.size()) {
    const iovec local{dst.data() + done, dst.size() - done};
    const iovec remote{reinterpret_cast<void*>(static_cast<uintptr_t>(address + done)),
                       dst.size() - done};
    const ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int error = n < 0 ? errno : EFAULT;
    if (error == EPERM || error == ENOSYS || error == EACCES) turnOff(error);
    return false;
  }
  return true;
}

}  // namespace kolo::core
