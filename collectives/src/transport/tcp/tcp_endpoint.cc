#include "transport/tcp/tcp_endpoint.h"

#include <charconv>

#include <fmt/format.h>

namespace kolo::tcp {

namespace ip = boost::asio::ip;
using boost::system::error_code;

std::string formatEndpoint(const ip::address& address, unsigned short port) {
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), port);
  return fmt::format("{}:{}", address.to_string(), port);
}

std::string remoteName(const ip::tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "an unknown endpoint";
  return formatEndpoint(ep.address(), ep.port());
}

Expected<ip::tcp::endpoint> parseEndpoint(const std::string& text, int peer) {
  auto colon = text.rfind(':');
  auto bad = [&](const std::string& why) {
    return makeStatus(Code::kInvalidArgument, "rank {} published tcp address '{}': {}", peer, text,
                      why);
  };
  if (colon == std::string::npos) return bad("no ':port'");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [end, err] = std::from_chars(first, last, port);
  if (err != std::errc() || end != last || port == 0 || port > 65535) return bad("bad port");
  error_code ec;
  auto address = ip::make_address(host, ec);
  if (ec) return bad(ec.message());
  return ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace kolo::tcp
