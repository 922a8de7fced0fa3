// LD_PRELOAD library for the cluster authentication test (auth_test.py): holds every TCP
// connect() of the process except those to the rendezvous store (KOLO_STORE=tcp:HOST:PORT)
// until the file named by CLUSTER_HOLD_CONNECT exists (at most 60 s). Preloaded into the last
// rank only, it keeps the other ranks in the TCP connection phase with their listeners open,
// while strangers talk to them, without touching the library under test.
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

using ConnectFn = int (*)(int, const sockaddr*, socklen_t);

unsigned storePort() {
  const char* store = std::getenv("KOLO_STORE");
  if (store == nullptr) return 0;
  const char* colon = std::strrchr(store, ':');
  return colon == nullptr ? 0 : static_cast<unsigned>(std::strtoul(colon + 1, nullptr, 10));
}

unsigned portOf(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  }
  if (addr->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  }
  return 0;
}

void holdUntilReleased() {
  const char* file = std::getenv("CLUSTER_HOLD_CONNECT");
  if (file == nullptr || *file == '\0') return;
  struct stat st{};
  for (int i = 0; i < 3000 && ::stat(file, &st) != 0; ++i) ::usleep(20000);
}

}  // namespace

extern "C" int connect(int fd, const sockaddr* addr, socklen_t len) {
  static auto real = reinterpret_cast<ConnectFn>(::dlsym(RTLD_NEXT, "connect"));
  if (addr != nullptr && len >= sizeof(sockaddr_in)) {
    const unsigned port = portOf(addr);
    if (port != 0 && port != storePort()) holdUntilReleased();
  }
  return real(fd, addr, len);
}
