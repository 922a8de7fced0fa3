// The hello both ends of a new TCP connection exchange before any frame, and the proofs that
// follow it. The connector sends its hello (magic, protocol version, its rank, the world size,
// the job id and a fresh 32-byte nonce); the acceptor checks the fields, answers with its own
// hello and a proof, HMAC-SHA256 under the job secret (KOLO_SECRET) over both hellos; the
// connector checks that proof and sends its own, made with another label. Each side's proof
// covers the other side's fresh nonce, so a hello or proof replayed from another connection or
// another job is refused, and a process that knows the job id but not the secret can neither
// join a world nor pose as one of its ranks. Without a secret (no kolorun, a file: store) the
// proofs use an empty key and only keep out strangers that do not speak the protocol.
// Wire format (little-endian): magic u32 | version u16 | reserved u16 | rank u32 | size u32 |
// job id length u32 | nonce 32 bytes | job id bytes; a proof is 32 raw bytes. The u16 after
// the version holds flags (kHelloFlag*, bits 0-3), the connections per peer pair minus one
// (KOLO_TCP_STREAMS, bits 4-7) and this connection's stream index (bits 8-15). The proofs cover
// that word, so an extra stream must prove the job secret like the first, and nobody can
// present a connection as another stream than the one it was proven as.
// Plain functions without sockets, unit-tested on byte strings.
// Thread: any.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::tcp {

inline constexpr uint32_t kHelloMagic = 0x484c4f4b;  // "KOLH" in memory order
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kHelloFixedSize = 20 + kNonceSize;
inline constexpr size_t kProofSize = 32;
inline constexpr uint32_t kMaxJobIdLength = 1024;

using Nonce = std::array<std::byte, kNonceSize>;
using HelloProof = std::array<std::byte, kProofSize>;

// Hello flags: what both ends of a connection must agree on.
inline constexpr uint16_t kHelloFlagChecksum = 1;  // data frames' trailers are checked
inline constexpr uint16_t kHelloFlagMask = 0x000f;
// Connections per peer pair (KOLO_TCP_STREAMS): 1 to kMaxStreams.
inline constexpr int kMaxStreams = 16;

struct Hello {
  int rank = 0;
  int size = 0;
  std::string jobId;
  Nonce nonce{};
  uint16_t flags = 0;
  int stream = 0;   // which of the pair's connections this is, from 0
  int streams = 1;  // how many connections the sender keeps per peer pair
};

std::vector<std::byte> encodeHello(const Hello& hello);

// The first bytes of a hello (magic, version, reserved): checked as soon as they arrive, so a
// stranger speaking another protocol is dropped without waiting for a whole hello.
inline constexpr size_t kHelloPrefixSize = 8;
Status checkHelloPrefix(std::span<const std::byte> prefix, const std::string& from);

// Parses the fixed part; returns the job id length that follows. `from` names the remote
// endpoint in errors.
Expected<uint32_t> decodeHelloFixed(std::span<const std::byte> fixed, Hello& out,
                                    const std::string& from);

// Checks a complete hello against what this end expects: same job and world size, and a rank
// in [minRank, maxRank]. Errors say which field is wrong and both values.
Status validateHello(const Hello& hello, const std::string& jobId, int size, int minRank,
                     int maxRank, const std::string& from);

// The peer's flags must equal this end's: kMismatch naming the setting and both values.
Status validateHelloFlags(const Hello& hello, uint16_t flags, const std::string& from);

// The peer must keep as many connections per pair as this end (`streams`), and this
// connection's stream index must be below that and, when `expectedStream` >= 0, equal to it
// (the acceptor answers on the stream the connector opened). kMismatch naming both values.
Status validateHelloStreams(const Hello& hello, int streams, int expectedStream,
                            const std::string& from);

// 32 bytes from the kernel's random source.
Nonce freshNonce();

enum class HelloRole { kAcceptor, kConnector };

// The proof `role` sends: HMAC-SHA256(secret, role label | connector's hello | acceptor's hello).
HelloProof proveHello(std::string_view secret, HelloRole role, const Hello& connector,
                      const Hello& acceptor);
// Constant-time comparison of a received proof with the expected one.
bool proofMatches(const HelloProof& received, const HelloProof& expected);

}  // namespace kolo::tcp
