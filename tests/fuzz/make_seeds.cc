// Writes the seed corpus of every fuzz target: `kolo_fuzz_seeds DIR` creates DIR/<target>/<seed>
// files holding real encodings (frames, negotiation messages, sealed store messages) produced by
// Kolo's own encoders, in each target's input layout (see the target's header comment).
// tests/fuzz/corpus/ is this program's output; rerun it when an encoding changes.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kolo/core/request.h"
#include "kolo/core/response.h"
#include "kolo/protocol/store_wire.h"
#include "transport/tcp/crc32c.h"
#include "transport/tcp/frame_codec.h"

namespace {

namespace fs = std::filesystem;
using namespace kolo;
using fuzz::putSized;
using fuzz::putU16;
using fuzz::putU8;

fs::path gRoot;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = gRoot / target;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

template <typename Bytes>
std::string asString(const Bytes& bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// ---- tcp_frame ----------------------------------------------------------------------------

std::string frame(uint64_t tag, const std::string& payload) {
  return asString(tcp::FrameEncoder::encodeHeader(tag, payload.size())) + payload +
         asString(tcp::FrameEncoder::encodeTrailer(tcp::crc32c(std::as_bytes(std::span(payload)))));
}

void tcpFrameSeeds() {
  struct Recv {
    uint8_t tag;
    uint16_t size;
  };
  auto seed = [](uint8_t split, std::vector<Recv> recvs, const std::string& stream) {
    std::string out;
    putU8(out, split);
    putU8(out, static_cast<uint8_t>(recvs.size()));
    for (const Recv& r : recvs) {
      putU8(out, r.tag);
      putU16(out, r.size);
    }
    return out + stream;
  };
  write("tcp_frame", "one_frame_posted", seed(3, {{7, 5}}, frame(7, "hello")));
  write("tcp_frame", "empty_payload", seed(1, {{0, 0}}, frame(0, "")));
  write("tcp_frame", "unexpected_then_posted",
        seed(0x85, {{2, 3}}, frame(1, "first") + frame(2, "abc") + frame(1, "again")));
  write("tcp_frame", "size_mismatch", seed(9, {{4, 8}}, frame(4, "four") + frame(5, "next")));
  write("tcp_frame", "large_direct_read",
        seed(0x9f, {{3, 4000}}, frame(3, std::string(70000, 'x')) + frame(3, "tail")));
  write("tcp_frame", "bad_magic", seed(2, {}, frame(1, "ok") + std::string(20, '\x55')));
  write("tcp_frame", "truncated_payload",
        seed(4, {{6, 100}}, frame(6, std::string(100, 'p')).substr(0, 60)));
}

// ---- negotiation --------------------------------------------------------------------------

core::Request request(const std::string& name, core::OpType op) {
  core::Request q;
  q.rank = 1;
  q.tensorName = name;
  q.op = op;
  q.shape = {32, 3, 3};
  return q;
}

void negotiationSeeds() {
  using core::OpType;
  core::Request allreduce = request("grad/conv1.weight", OpType::kAllreduce);
  write("negotiation", "request_allreduce", asString(core::serialize(allreduce)));

  core::RequestList list;
  list.rank = 1;
  list.requests.push_back(allreduce);
  core::Request scaled = request("grad/fc.bias", OpType::kAllreduce);
  scaled.dtype = DataType::kFloat16;
  scaled.reduceOp = ReduceOp::kAverage;
  scaled.prescale = 0.5;
  scaled.postscale = 0.25;
  scaled.groupId = 3;
  scaled.groupSize = 2;
  list.requests.push_back(scaled);
  core::Request broadcast = request("params/w", OpType::kBroadcast);
  broadcast.rootRank = 0;
  broadcast.device = 0;
  list.requests.push_back(broadcast);
  core::Request alltoall = request("a2a", OpType::kAlltoall);
  alltoall.shape = {6, 4};
  alltoall.splits = {1, 2, 3};
  alltoall.dtype = DataType::kInt64;
  list.requests.push_back(alltoall);
  core::Request gather = request("gathered", OpType::kAllgather);
  gather.shape = {5};
  list.requests.push_back(gather);
  list.requests.push_back(request("barrier", OpType::kBarrier));
  write("negotiation", "request_list", asString(core::serialize(list)));

  core::RequestList join;
  join.rank = 2;
  join.requests.push_back(request("join", OpType::kJoin));
  join.shutdown = true;
  write("negotiation", "request_list_join_shutdown", asString(core::serialize(join)));

  core::Response response;
  response.op = OpType::kAllreduce;
  response.tensorNames = {"grad/a", "grad/b"};
  response.tensorElements = {288, 10};
  response.groupId = 3;
  write("negotiation", "response_group", asString(core::serialize(response)));

  core::ResponseList responses;
  responses.responses.push_back(response);
  core::Response failed;
  failed.tensorNames = {"grad/mismatch"};
  failed.errorCode = Code::kMismatch;
  failed.errorMessage = "rank 1 has shape [3], rank 0 has [4]";
  responses.responses.push_back(failed);
  core::Response a2a;
  a2a.op = OpType::kAlltoall;
  a2a.tensorNames = {"a2a"};
  a2a.tensorElements = {4};
  a2a.tensorSizes = {1, 2, 3, 3, 2, 1, 2, 2, 2};
  responses.responses.push_back(a2a);
  write("negotiation", "response_list", asString(core::serialize(responses)));
}

// ---- store_wire ---------------------------------------------------------------------------

void storeWireSeeds() {
  using protocol::PayloadWriter;
  using protocol::StoreOp;
  const std::string secret(protocol::kSecretBytes, 's');
  const std::string nonce(protocol::kNonceBytes, 'n');
  auto seed = [](uint8_t split, StoreOp op, const std::string& payload, const std::string& hex,
                 const std::string& stream) {
    std::string out;
    putU8(out, split);
    putU8(out, static_cast<uint8_t>(op));
    putSized(out, payload);
    putSized(out, hex);
    return out + stream;
  };
  protocol::MessageCodec client(secret, nonce, protocol::StoreRole::kClient);
  protocol::MessageCodec server(secret, nonce, protocol::StoreRole::kServer);
  std::string handshake =
      protocol::encodeFrame(protocol::encodeChallenge(nonce)) +
      protocol::encodeFrame(client.seal(StoreOp::kHello, PayloadWriter().u32(0).take())) +
      protocol::encodeFrame(server.seal(StoreOp::kWelcome, ""));
  const std::string hex = protocol::toHex(secret);
  write("store_wire", "hello",
        seed(5, StoreOp::kHello, PayloadWriter().u32(3).take(), hex, handshake));
  write("store_wire", "set",
        seed(0x41, StoreOp::kSet,
             PayloadWriter().str("kolo/job/tcp/0").str("127.0.0.1:4000").take(), "00ff",
             protocol::encodeFrame(
                 client.seal(StoreOp::kSet, PayloadWriter().str("k").str("v").take()))));
  write("store_wire", "get",
        seed(7, StoreOp::kGet, PayloadWriter().str("kolo/job/shm").u64(30000).take(), "xyz",
             protocol::encodeFrame(server.seal(StoreOp::kValue, PayloadWriter().str("v").take()))));
  write("store_wire", "add",
        seed(1, StoreOp::kAdd, PayloadWriter().str("count").i64(-5).take(), hex.substr(0, 10),
             protocol::encodeFrame("short")));
  write(
      "store_wire", "error",
      seed(2, StoreOp::kError,
           protocol::encodeError(Status(Code::kTimeout, "key 'x' was not set before the deadline")),
           "", std::string("\xff\xff\xff\xff", 4)));
}

// ---- store_server -------------------------------------------------------------------------

void storeServerSeeds() {
  using protocol::PayloadWriter;
  using protocol::StoreOp;
  auto record = [](std::string& out, StoreOp op, const std::string& payload) {
    putU8(out, static_cast<uint8_t>(op));
    putSized(out, payload);
  };
  auto rank = [](uint32_t helloRank) {
    std::string out;
    putU8(out, 1);
    for (int i = 0; i < 4; ++i) putU8(out, static_cast<uint8_t>(helloRank >> (8 * i)));
    return out;
  };
  std::string exchange = rank(0);
  record(exchange, StoreOp::kSet, PayloadWriter().str("kolo/j/tcp/0").str("127.0.0.1:5000").take());
  record(exchange, StoreOp::kGet, PayloadWriter().str("kolo/j/tcp/0").u64(1000).take());
  record(exchange, StoreOp::kAdd, PayloadWriter().str("kolo/j/count").i64(1).take());
  record(exchange, StoreOp::kAdd, PayloadWriter().str("kolo/j/count").i64(41).take());
  write("store_server", "rank_exchange", exchange);

  std::string waits = rank(protocol::kNoRank);
  record(waits, StoreOp::kGet, PayloadWriter().str("missing").u64(5).take());
  record(waits, StoreOp::kGet, PayloadWriter().str("forever").u64(protocol::kWaitForever).take());
  record(waits, StoreOp::kSet, PayloadWriter().str("forever").str("now").take());
  write("store_server", "tool_waits", waits);

  std::string notInt = rank(1);
  record(notInt, StoreOp::kSet, PayloadWriter().str("n").str("abc").take());
  record(notInt, StoreOp::kAdd, PayloadWriter().str("n").i64(1).take());
  record(notInt, StoreOp::kSet, PayloadWriter().str("n").take());  // malformed: no value
  write("store_server", "add_to_text_and_malformed_set", notInt);

  std::string overflow = rank(3);
  record(overflow, StoreOp::kSet, PayloadWriter().str("big").str("9223372036854775807").take());
  record(overflow, StoreOp::kAdd, PayloadWriter().str("big").i64(1).take());
  record(overflow, StoreOp::kAdd, PayloadWriter().str("small").i64(INT64_MIN).take());
  record(overflow, StoreOp::kAdd, PayloadWriter().str("small").i64(-1).take());
  write("store_server", "add_overflow", overflow);

  std::string badRank = rank(9);
  write("store_server", "rank_outside_world", badRank);

  std::string rawTail = rank(2);
  record(rawTail, StoreOp::kSet, PayloadWriter().str("a").str("b").take());
  putU8(rawTail, 0);
  rawTail += protocol::encodeFrame("not sealed");
  write("store_server", "raw_after_hello", rawTail);

  write("store_server", "stranger_blurts", std::string("\x00GET / HTTP/1.0\r\n\r\n", 19));
  write("store_server", "stranger_after_challenge",
        std::string("\x02", 1) + protocol::encodeFrame(std::string(45, 'h')));
  write("store_server", "stranger_oversized", std::string("\x02\x7f\xff\xff\xff", 5));
}

// ---- host_list and env --------------------------------------------------------------------

void textSeeds() {
  auto seed = [](uint8_t first, const std::string& text) {
    return std::string(1, static_cast<char>(first)) + text;
  };
  write("host_list", "dash_h", seed(12, "node1:2,node2:4,node3"));
  write("host_list", "loopback", seed(12, "127.0.0.1:2,127.0.0.2:2"));
  write("host_list", "hostfile",
        seed(20,
             "# cluster\nnode1 slots=4\nnode2:2  # two\n\nnode3 "
             "slots=8 max_slots=8\nlocalhost\n"));
  write("host_list", "duplicate", seed(9, "a:1,a:2"));
  write("host_list", "bad_slots", seed(9, "a:0,b:x"));

  for (const char* value : {"64M", "1g", "4096", "8kib", "0", "300", "2.5", "true", "off", "b"}) {
    std::string name = value;
    for (char& c : name) {
      if (c == '.') c = '_';
    }
    write("env", name, seed(',', value));
  }
  write("env", "list", seed(',', "tcp,coordinator,,shm"));
  write("env", "fault_spec",
        seed(',', "rank=2,op=allreduce,seq=57,phase=reduce_scatter,action=exit:3"));
  write("env", "fault_specs",
        seed(';', "rank=1,action=delay_ms:500; rank=0,op=any,phase=negotiation,action=corrupt"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kolo_fuzz_seeds OUTPUT_DIR\n");
    return 2;
  }
  gRoot = argv[1];
  tcpFrameSeeds();
  negotiationSeeds();
  storeWireSeeds();
  storeServerSeeds();
  textSeeds();
  return 0;
}
