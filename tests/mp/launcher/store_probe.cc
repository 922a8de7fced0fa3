// A rank program for kolorun's multi-process tests: talks to the job's store through the
// runtime's client, and (mode "attack") also plays a stranger on the same store.
//   store_probe exchange            every rank publishes a value and reads everyone else's
//   store_probe hold S [FILE]       join the store, then sleep S seconds or until FILE exists
//   store_probe attack N            N malformed connections, a wrong secret and a replay, then
//                                   the exchange (which must still work)
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "kolo/base/env.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/protocol/store_wire.h"
#include "kolo/rendezvous/store_factory.h"
#include "kolo/rendezvous/tcp_store.h"

namespace {

using namespace kolo;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "store_probe: %s\n", what.c_str());
  std::exit(1);
}

int rawConnect(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect failed");
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

std::string readFrame(int fd) {
  char header[4];
  if (::recv(fd, header, 4, MSG_WAITALL) != 4) return {};
  uint32_t n = protocol::PayloadReader(std::string_view(header, 4)).u32();
  if (n > 4096) return {};
  std::string body(n, '\0');
  if (n > 0 && ::recv(fd, body.data(), n, MSG_WAITALL) != static_cast<ssize_t>(n)) return {};
  return body;
}

void sendAll(int fd, const std::string& data) {
  (void)!::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
}

// True when the server hangs up on us.
bool serverCloses(int fd) {
  char buffer[64];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

void attack(int count) {
  auto url = getEnv(protocol::kEnvStore).value_or("");
  auto hostPort = parseHostPort(url.substr(4));
  if (!hostPort) die(hostPort.status().toString());
  const auto& [host, port] = *hostPort;
  std::mt19937 rng(42);
  for (int i = 0; i < count; ++i) {
    int fd = rawConnect(host, port);
    if (i % 2 == 0) readFrame(fd);  // half answer the challenge with garbage, half blurt at once
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 3 == 0) junk = protocol::encodeFrame(junk);  // well framed, but not authenticated
    sendAll(fd, junk);
    ::close(fd);
  }
  // Wrong secret: must be refused.
  auto wrong = TcpStore::connect(host, port, std::string(protocol::kSecretBytes, 'w'),
                                 protocol::kNoRank, Deadline::afterSeconds(10));
  if (wrong.hasValue()) die("a wrong secret was accepted");
  // Replay: a valid add sent twice on one connection; the copy must end the connection.
  auto secret = protocol::decodeSecret(getEnv(protocol::kEnvSecret).value_or(""));
  if (!secret) die(secret.status().toString());
  int fd = rawConnect(host, port);
  auto nonce = protocol::decodeChallenge(readFrame(fd));
  if (!nonce) die("no challenge");
  protocol::MessageCodec codec(*secret, *nonce, protocol::StoreRole::kClient);
  sendAll(fd,
          protocol::encodeFrame(codec.seal(
              protocol::StoreOp::kHello, protocol::PayloadWriter().u32(protocol::kNoRank).take())));
  if (!codec.open(readFrame(fd))) die("no welcome");
  std::string add = protocol::encodeFrame(codec.seal(
      protocol::StoreOp::kAdd, protocol::PayloadWriter().str("probe/replayed").i64(1).take()));
  sendAll(fd, add);
  if (!codec.open(readFrame(fd))) die("no reply to add");
  sendAll(fd, add);
  if (!serverCloses(fd)) die("the replayed add was not refused");
  ::close(fd);
  std::printf("attacks done\n");
}

void exchange(KvStore& store, int rank, int size) {
  if (!store.set("probe/" + std::to_string(rank), "hello from " + std::to_string(rank)).isOk()) {
    die("set failed");
  }
  for (int r = 0; r < size; ++r) {
    auto value = store.get("probe/" + std::to_string(r), Deadline::afterSeconds(20));
    if (!value) die(value.status().toString());
    if (*value != "hello from " + std::to_string(r))
      die("wrong value for rank " + std::to_string(r));
  }
  auto count = store.add("probe/count", 1);
  if (!count) die(count.status().toString());
  std::printf("rank %d exchanged with %d ranks\n", rank, size);
}

// Sleeps `seconds`, or less once `releaseFile` exists (checked every 20 ms).
void hold(double seconds, const std::string& releaseFile) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (!releaseFile.empty() && ::access(releaseFile.c_str(), F_OK) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: store_probe exchange|hold S [FILE]|attack N");
  const std::string mode = argv[1];
  const int rank = static_cast<int>(envInt(protocol::kEnvRank, -1));
  const int size = static_cast<int>(envInt(protocol::kEnvSize, 0));
  auto url = getEnv(protocol::kEnvStore);
  if (!url) die("KOLO_STORE is not set");
  if (mode == "attack" && rank == 0) attack(argc > 2 ? std::atoi(argv[2]) : 1000);
  auto store = openStore(*url);
  if (!store) die(store.status().toString());
  if (mode == "hold") {
    std::fflush(stdout);
    hold(argc > 2 ? std::atof(argv[2]) : 30, argc > 3 ? argv[3] : "");
    return 0;
  }
  exchange(**store, rank, size);
  if (mode == "attack" && rank == 0) {
    auto replayed = (*store)->add("probe/replayed", 0);
    if (!replayed || *replayed != 1) die("the replayed add ran twice");
  }
  return 0;
}
