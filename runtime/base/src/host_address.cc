#include "kolo/base/host_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <unistd.h>

#include <vector>

#include "kolo/base/settings.h"

namespace kolo {

Expected<std::string> interfaceAddress(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return makeStatus(Code::kIoError, "cannot list network interfaces");
  }
  std::string found;
  std::vector<std::string> names;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    names.emplace_back(i->ifa_name);
    if (name == i->ifa_name && found.empty()) {
      char text[INET_ADDRSTRLEN] = {};
      auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) found = text;
    }
  }
  ::freeifaddrs(list);
  if (found.empty()) {
    std::string known;
    for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
    return makeStatus(Code::kInvalidArgument,
                      "network interface '{}' has no IPv4 address here (interfaces: {})", name,
                      known);
  }
  return found;
}

std::string primaryAddress() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found = "127.0.0.1";
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) != 0 || (i->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    auto* in = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
    if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) {
      found = text;
      break;
    }
  }
  ::freeifaddrs(list);
  return found;
}

std::string hostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) return {};
  return host;
}

std::string jobHostName() {
  if (auto set = settingText("KOLO_HOSTNAME"); set && !set->empty()) return *set;
  return hostName();
}

}  // namespace kolo
