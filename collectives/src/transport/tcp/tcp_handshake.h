// The hello both ends of a new TCP connection exchange before any frame: magic, protocol
// version, the sender's rank, the world size and the job id. The acceptor checks the
// connector's hello and answers with its own, which the connector checks in turn, so neither
// a stranger on the port nor a stale address from another job can join a world.
// Wire format (little-endian): magic u32 | version u16 | reserved u16 | rank u32 | size u32 |
// job id length u32 | job id bytes.
// Plain functions without sockets, unit-tested on byte strings.
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::tcp {

inline constexpr uint32_t kHelloMagic = 0x484c4f4b;  // "KOLH" in memory order
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kHelloFixedSize = 20;
inline constexpr uint32_t kMaxJobIdLength = 1024;

struct Hello {
  int rank = 0;
  int size = 0;
  std::string jobId;
};

std::vector<std::byte> encodeHello(const Hello& hello);

// Parses the fixed part; returns the job id length that follows. `from` names the remote
// endpoint in errors.
Expected<uint32_t> decodeHelloFixed(std::span<const std::byte> fixed, Hello& out,
                                    const std::string& from);

// Checks a complete hello against what this end expects: same job and world size, and a rank
// in [minRank, maxRank]. Errors say which field is wrong and both values.
Status validateHello(const Hello& hello, const std::string& jobId, int size, int minRank,
                     int maxRank, const std::string& from);

}  // namespace kolo::tcp
