#include "kolo/rendezvous/tcp_store.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "kolo/protocol/store_wire.h"

namespace kolo {
namespace {

using protocol::StoreOp;

// A get() with a deadline asks the server to wait that long; the client waits this much more for
// the server's "timed out" reply, so the usual timeout error comes from the server and names the
// key, and a lost server still cannot block the caller much past its deadline.
constexpr auto kReplyGrace = std::chrono::seconds(5);

int pollMs(Deadline deadline) {
  if (deadline.isNever()) return -1;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(deadline.remaining()).count();
  return static_cast<int>(std::min<long long>(ms, 60'000));
}

Status waitFor(int fd, short events, Deadline deadline, const std::string& what) {
  while (true) {
    if (deadline.expired()) return makeStatus(Code::kTimeout, "{}: timed out", what);
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, pollMs(deadline));
    if (rc > 0) return Status::ok();
    if (rc < 0 && errno != EINTR) {
      return makeStatus(Code::kIoError, "{}: poll: {}", what, std::strerror(errno));
    }
  }
}

Status writeAll(int fd, std::string_view data, Deadline deadline, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      KOLO_RETURN_IF_ERROR(waitFor(fd, POLLOUT, deadline, what));
    } else {
      return makeStatus(Code::kIoError, "{}: send: {}", what, std::strerror(errno));
    }
  }
  return Status::ok();
}

Status readExact(int fd, char* out, size_t size, Deadline deadline, const std::string& what) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(fd, out + done, size - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0) {
      return makeStatus(Code::kIoError, "{}: the store closed the connection", what);
    } else if (errno == EAGAIN || errno == EINTR) {
      KOLO_RETURN_IF_ERROR(waitFor(fd, POLLIN, deadline, what));
    } else {
      return makeStatus(Code::kIoError, "{}: recv: {}", what, std::strerror(errno));
    }
  }
  return Status::ok();
}

Expected<std::string> readFrame(int fd, Deadline deadline, const std::string& what) {
  char header[4];
  KOLO_RETURN_IF_ERROR(readExact(fd, header, sizeof(header), deadline, what));
  uint32_t length = protocol::PayloadReader(std::string_view(header, 4)).u32();
  if (length > protocol::kMaxFrameBytes) {
    return makeStatus(Code::kIoError, "{}: reply of {} bytes exceeds the limit of {}", what, length,
                      protocol::kMaxFrameBytes);
  }
  std::string body(length, '\0');
  KOLO_RETURN_IF_ERROR(readExact(fd, body.data(), length, deadline, what));
  return body;
}

}  // namespace

struct TcpStore::Connection {
  int fd = -1;
  std::unique_ptr<protocol::MessageCodec> codec;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};

Expected<std::pair<std::string, int>> parseHostPort(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return makeStatus(Code::kInvalidArgument, "'{}' is not host:port", text);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return makeStatus(Code::kInvalidArgument, "'{}' is not host:port", text);
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535) {
    return makeStatus(Code::kInvalidArgument, "'{}' is not host:port with a port in 1..65535",
                      text);
  }
  return std::make_pair(std::string(host), value);
}

TcpStore::TcpStore(std::string host, int port, std::string secret, uint32_t rank)
    : host_(std::move(host)), port_(port), secret_(std::move(secret)), rank_(rank) {}

TcpStore::~TcpStore() = default;

std::string TcpStore::describe() const {
  return fmt::format("tcp store {}:{}", host_, port_);
}

Expected<std::unique_ptr<TcpStore>> TcpStore::connect(const std::string& host, int port,
                                                      std::string secret, uint32_t rank,
                                                      Deadline deadline) {
  if (secret.size() != protocol::kSecretBytes) {
    return makeStatus(Code::kInvalidArgument, "tcp store {}:{}: the secret must be {} bytes", host,
                      port, protocol::kSecretBytes);
  }
  std::unique_ptr<TcpStore> store(new TcpStore(host, port, std::move(secret), rank));
  // Open one connection now, so a wrong secret or unreachable server fails at startup.
  KOLO_ASSIGN_OR_RETURN(auto connection, store->openConnection(deadline));
  store->idle_.push_back(std::move(connection));
  return store;
}

Expected<std::unique_ptr<TcpStore::Connection>> TcpStore::openConnection(Deadline deadline) {
  const std::string what = describe();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &found);
      rc != 0) {
    return makeStatus(Code::kIoError, "{}: cannot resolve '{}': {}", what, host_,
                      ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  auto connection = std::make_unique<Connection>();
  auto delay = std::chrono::milliseconds(5);
  std::string lastError = "no address";
  while (connection->fd < 0) {
    for (addrinfo* a = addresses.get(); a != nullptr && connection->fd < 0; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) continue;
      int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        Status ready = waitFor(fd, POLLOUT, deadline, what);
        int error = 0;
        socklen_t length = sizeof(error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (ready.isOk() && error == 0) {
          rc = 0;
        } else {
          errno = error != 0 ? error : ETIMEDOUT;
        }
      }
      if (rc == 0) {
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        connection->fd = fd;
      } else {
        lastError = std::strerror(errno);
        ::close(fd);
      }
    }
    if (connection->fd >= 0) break;
    if (deadline.expired()) {
      return makeStatus(Code::kUnavailable, "{}: cannot connect: {}", what, lastError);
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(delay, deadline.remaining()));
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }

  KOLO_ASSIGN_OR_RETURN(std::string challenge, readFrame(connection->fd, deadline, what));
  auto nonce = protocol::decodeChallenge(challenge);
  if (!nonce) return makeStatus(Code::kIoError, "{}: {}", what, nonce.status().message());
  connection->codec = std::make_unique<protocol::MessageCodec>(secret_, std::move(*nonce),
                                                               protocol::StoreRole::kClient);
  std::string hello =
      connection->codec->seal(StoreOp::kHello, protocol::PayloadWriter().u32(rank_).take());
  KOLO_RETURN_IF_ERROR(writeAll(connection->fd, protocol::encodeFrame(hello), deadline, what));
  auto reply = readFrame(connection->fd, deadline, what);
  if (!reply) {
    // The server drops a client whose hello fails authentication without a word: it must not
    // tell a stranger anything.
    return makeStatus(Code::kMismatch,
                      "{}: the store refused this client ({}); is KOLO_SECRET the job's secret?",
                      what, reply.status().message());
  }
  auto welcome = connection->codec->open(*reply);
  if (!welcome || welcome->op != StoreOp::kWelcome) {
    return makeStatus(Code::kMismatch, "{}: the server failed authentication: {}", what,
                      welcome ? "unexpected reply to hello" : welcome.status().message());
  }
  return connection;
}

Expected<std::string> TcpStore::call(int op, const std::string& payload, Deadline deadline,
                                     const std::string& what) {
  std::unique_ptr<Connection> connection;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!connection) {
    KOLO_ASSIGN_OR_RETURN(connection, openConnection(deadline));
  }
  const std::string context = fmt::format("{}: {}", describe(), what);
  std::string frame =
      protocol::encodeFrame(connection->codec->seal(static_cast<StoreOp>(op), payload));
  KOLO_RETURN_IF_ERROR(writeAll(connection->fd, frame, deadline, context));
  KOLO_ASSIGN_OR_RETURN(std::string body, readFrame(connection->fd, deadline, context));
  auto message = connection->codec->open(body);
  if (!message) {
    return makeStatus(Code::kIoError, "{}: bad reply: {}", context, message.status().message());
  }
  Expected<std::string> result =
      message->op == StoreOp::kValue
          ? protocol::PayloadReader(message->payload).str()
          : Expected<std::string>(protocol::decodeError(message->payload));
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(connection));
  return result;
}

Status TcpStore::set(const std::string& key, std::string_view value) {
  auto reply =
      call(static_cast<int>(StoreOp::kSet), protocol::PayloadWriter().str(key).str(value).take(),
           Deadline::afterSeconds(60), fmt::format("set '{}'", key));
  return reply.status();
}

Expected<std::string> TcpStore::get(const std::string& key, Deadline deadline) {
  uint64_t timeoutMs = protocol::kWaitForever;
  Deadline clientDeadline = Deadline::never();
  if (!deadline.isNever()) {
    timeoutMs = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline.remaining()).count());
    clientDeadline = Deadline::after(deadline.remaining() + kReplyGrace);
  }
  auto reply = call(static_cast<int>(StoreOp::kGet),
                    protocol::PayloadWriter().str(key).u64(timeoutMs).take(), clientDeadline,
                    fmt::format("get '{}'", key));
  if (!reply && reply.status().code() == Code::kTimeout) {
    return makeStatus(Code::kTimeout, "{}: key '{}' was not set before the deadline", describe(),
                      key);
  }
  return reply;
}

Expected<int64_t> TcpStore::add(const std::string& key, int64_t delta) {
  KOLO_ASSIGN_OR_RETURN(
      std::string text,
      call(static_cast<int>(StoreOp::kAdd), protocol::PayloadWriter().str(key).i64(delta).take(),
           Deadline::afterSeconds(60), fmt::format("add '{}'", key)));
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return makeStatus(Code::kIoError, "{}: add '{}' returned '{}', not an integer", describe(), key,
                      text);
  }
  return value;
}

}  // namespace kolo
