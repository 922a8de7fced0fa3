// Fuzz target: kolorun's store server (launcher/src/store_server.cc), over a real connection.
// Each input starts a server with a known secret and plays one client:
//   mode 0: a stranger: optionally reads the challenge, then sends the input's raw bytes;
//   mode 1: a rank that authenticates (the input picks the rank in its hello), then sends the
//           input's messages, sealed with the secret, so the server's request parsing and
//           handling see arbitrary authenticated payloads, optionally followed by raw bytes.
// Then the client closes its sending side and reads until the server hangs up. Properties: the
// server neither crashes nor hangs (it closes within 10 s), every reply it sends authenticates
// and is a welcome, a value or an error, and a stranger never gets anything but the challenge.
// Input: u8 mode | (mode 1) u32 hello rank | records: u8 op (0: rest is raw), sized payload.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "kolo/launcher/store_server.h"
#include "kolo/protocol/store_wire.h"

namespace {

using namespace kolo::protocol;
using kolo::fuzz::FuzzInput;

const std::string kSecret(kSecretBytes, 'k');
constexpr int kWorldSize = 4;

void sendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the server hung up; the rest is not needed
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Reads everything until the server closes; fails the input if it stays silent and open.
std::string readToEnd(int fd) {
  std::string all;
  char buffer[4096];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      all.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n == 0 || errno == ECONNRESET) return all;
    if (errno == EINTR) continue;
    FUZZ_CHECK(errno != EAGAIN && errno != EWOULDBLOCK,
               "the server neither answered nor closed within 10 s");
    return all;
  }
}

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket: %d", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "connect: %d",
             errno);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

// libFuzzer's timeout alarm interrupts blocking calls, so EINTR just means "again".
bool recvExact(int fd, char* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::recv(fd, out + done, size - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  return true;
}

std::string readFrameBody(int fd) {
  char header[4];
  if (!recvExact(fd, header, 4)) return {};
  uint32_t n = PayloadReader(std::string_view(header, 4)).u32();
  FUZZ_CHECK(n <= kMaxHandshakeFrameBytes, "challenge frame of %u bytes", n);
  std::string body(n, '\0');
  if (!recvExact(fd, body.data(), n)) return {};
  return body;
}

void stranger(int fd, FuzzInput& in, bool readChallenge) {
  if (readChallenge) {
    FUZZ_CHECK(decodeChallenge(readFrameBody(fd)).hasValue(), "no challenge");
  }
  sendAll(fd, in.rest());
  ::shutdown(fd, SHUT_WR);
  std::string rest = readToEnd(fd);
  if (!readChallenge) {
    // Only the challenge frame (4 + 40 bytes) may come back.
    FUZZ_CHECK(rest.size() <= 4 + kChallengeMagic.size() + kNonceBytes, "a stranger got %zu bytes",
               rest.size());
  } else {
    FUZZ_CHECK(rest.empty(), "a stranger got %zu bytes after the challenge", rest.size());
  }
}

void rank(int fd, FuzzInput& in) {
  auto nonce = decodeChallenge(readFrameBody(fd));
  FUZZ_CHECK(nonce.hasValue(), "no challenge");
  MessageCodec codec(kSecret, nonce.value(), StoreRole::kClient);
  const uint32_t helloRank = in.u32();
  std::string out = encodeFrame(codec.seal(StoreOp::kHello, PayloadWriter().u32(helloRank).take()));
  while (!in.empty()) {
    uint8_t op = in.u8();
    if (op == 0) {
      out += in.rest();
      break;
    }
    out += encodeFrame(codec.seal(static_cast<StoreOp>(op), in.sized()));
  }
  sendAll(fd, out);
  ::shutdown(fd, SHUT_WR);
  std::string replies = readToEnd(fd);
  FrameDecoder decoder;
  decoder.feed(replies);
  bool first = true;
  while (true) {
    auto body = decoder.next();
    FUZZ_CHECK(body.hasValue(), "the server's reply stream is malformed: %s",
               body.status().message().c_str());
    if (!body.value().has_value()) break;
    auto message = codec.open(*body.value());
    FUZZ_CHECK(message.hasValue(), "a reply does not authenticate: %s",
               message.status().message().c_str());
    StoreOp got = message.value().op;
    if (first) {
      FUZZ_CHECK(got == StoreOp::kWelcome, "first reply is %s", storeOpName(got));
      FUZZ_CHECK(helloRank < kWorldSize || helloRank == kNoRank, "rank %u was welcomed", helloRank);
    } else {
      FUZZ_CHECK(got == StoreOp::kValue || got == StoreOp::kError, "reply %s", storeOpName(got));
      if (got == StoreOp::kError) {
        FUZZ_CHECK(!decodeError(message.value().payload).isOk(), "error reply decodes as OK");
      }
    }
    first = false;
  }
  // A partial last frame is legitimate: a rejected connection is closed at once, possibly in the
  // middle of writing a reply.
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const uint8_t mode = in.u8();
  kolo::launcher::StoreServerOptions options;
  options.secret = kSecret;
  options.worldSize = kWorldSize;
  options.handshakeTimeoutSeconds = 5;
  auto server = kolo::launcher::StoreServer::start(options);
  FUZZ_CHECK(server.hasValue(), "server: %s", server.status().message().c_str());
  int fd = connectTo(server.value()->port());
  if (mode & 1) {
    rank(fd, in);
  } else {
    stranger(fd, in, (mode & 2) != 0);
  }
  ::close(fd);
  return 0;
}
