#include "kolo/launcher/host_list.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include "kolo/base/env.h"

namespace kolo::launcher {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool validHostName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto b = static_cast<unsigned char>(c);
    if (!(std::isalnum(b) || c == '-' || c == '.' || c == '_')) return false;
  }
  return true;
}

Expected<int> parseSlots(std::string_view text) {
  int slots = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), slots);
  if (ec != std::errc() || end != text.data() + text.size() || slots < 1) {
    return makeStatus(Code::kInvalidArgument, "'{}' is not a slot count (a positive integer)",
                      text);
  }
  return slots;
}

// "host", "host:N" -> HostSlots.
Expected<HostSlots> parseHostSlots(std::string_view entry) {
  std::string_view name = entry;
  int slots = 1;
  if (size_t colon = entry.find(':'); colon != std::string_view::npos) {
    name = entry.substr(0, colon);
    KOLO_ASSIGN_OR_RETURN(slots, parseSlots(entry.substr(colon + 1)));
  }
  if (!validHostName(name)) {
    return makeStatus(Code::kInvalidArgument, "'{}' is not a host name", name);
  }
  return HostSlots{std::string(name), "", slots, false};
}

Status checkUnique(const std::vector<HostSlots>& hosts) {
  std::set<std::string> seen;
  for (const HostSlots& host : hosts) {
    if (!seen.insert(host.name).second) {
      return makeStatus(Code::kInvalidArgument,
                        "host '{}' is listed twice; give it once with the total slot count",
                        host.name);
    }
  }
  return Status::ok();
}

}  // namespace

std::vector<std::string> splitKeepingEmpty(std::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    parts.emplace_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

Expected<std::vector<HostSlots>> parseHostList(std::string_view text) {
  std::vector<HostSlots> hosts;
  for (const std::string& entry : splitKeepingEmpty(text, ',')) {
    auto host = parseHostSlots(trim(entry));
    if (!host) {
      return makeStatus(Code::kInvalidArgument, "-H '{}': {}", text, host.status().message());
    }
    hosts.push_back(std::move(*host));
  }
  if (hosts.empty()) return makeStatus(Code::kInvalidArgument, "-H '{}' names no host", text);
  KOLO_RETURN_IF_ERROR(checkUnique(hosts));
  return hosts;
}

Expected<std::vector<HostSlots>> parseHostfile(std::string_view content,
                                               const std::string& fileName) {
  std::vector<HostSlots> hosts;
  int lineNumber = 0;
  for (const std::string& rawLine : splitKeepingEmpty(content, '\n')) {
    ++lineNumber;
    std::string_view line = rawLine;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    auto fail = [&](const std::string& why) {
      return makeStatus(Code::kInvalidArgument, "{}:{}: {} (line: '{}')", fileName, lineNumber, why,
                        trim(rawLine));
    };
    std::istringstream words{std::string(line)};
    std::string first;
    words >> first;
    auto host = parseHostSlots(first);
    if (!host) return fail(host.status().message());
    std::string word;
    while (words >> word) {
      if (word.rfind("slots=", 0) == 0 && first.find(':') == std::string::npos) {
        auto slots = parseSlots(std::string_view(word).substr(6));
        if (!slots) return fail(slots.status().message());
        host->slots = *slots;
      } else if (word.rfind("max_slots=", 0) == 0) {
        // Open MPI's oversubscription cap; kolorun never oversubscribes beyond slots.
      } else {
        return fail(
            fmt::format("unexpected '{}' (expected 'host slots=N', 'host:N' or 'host')", word));
      }
    }
    hosts.push_back(std::move(*host));
  }
  if (hosts.empty()) return makeStatus(Code::kInvalidArgument, "{}: names no host", fileName);
  auto unique = checkUnique(hosts);
  if (!unique.isOk())
    return makeStatus(Code::kInvalidArgument, "{}: {}", fileName, unique.message());
  return hosts;
}

Expected<std::vector<HostSlots>> readHostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeStatus(Code::kInvalidArgument, "cannot read hostfile '{}'", path);
  std::ostringstream content;
  content << in.rdbuf();
  return parseHostfile(content.str(), path);
}

bool isLoopbackAddress(std::string_view name) {
  in_addr address{};
  std::string text(name);
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

bool isLocalHost(std::string_view name, std::string_view localHostname) {
  if (name == "localhost" || isLoopbackAddress(name) || name == localHostname) return true;
  // "node7" is local on "node7.cluster.example" and the other way round.
  auto shortName = [](std::string_view n) { return n.substr(0, n.find('.')); };
  return !localHostname.empty() && shortName(name) == shortName(localHostname) &&
         (name.find('.') == std::string_view::npos ||
          localHostname.find('.') == std::string_view::npos);
}

void classifyHosts(std::vector<HostSlots>& hosts, std::string_view localHostname,
                   const std::string& localAddress) {
  for (HostSlots& host : hosts) {
    host.local = isLocalHost(host.name, localHostname);
    if (isLoopbackAddress(host.name)) {
      host.address = host.name;
    } else if (host.local) {
      host.address = localAddress;
    } else {
      host.address = host.name;
      addrinfo hints{};
      hints.ai_family = AF_INET;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      if (::getaddrinfo(host.name.c_str(), nullptr, &hints, &found) == 0 && found != nullptr) {
        char text[INET_ADDRSTRLEN] = {};
        auto* in = reinterpret_cast<sockaddr_in*>(found->ai_addr);
        if (::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) host.address = text;
        ::freeaddrinfo(found);
      }
    }
  }
}

}  // namespace kolo::launcher
