// The C ABI in one process (a world of one, no launcher): status codes, the thread-local last
// error, struct_size checks, the default session and its lifetime.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "kolo.h"
#include "support/c_abi_fixture.h"

namespace {

using kolo::test::hostTensor;

class CAbi : public kolo::test::SingleProcessCAbi {};

TEST_F(CAbi, AllreduceThroughTheDefaultSession) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(kolo_rank(nullptr), 0);
  EXPECT_EQ(kolo_size(s), 1);
  float v[3] = {1, 2, 3};
  int64_t shape[1] = {3};
  kolo_tensor_t t = hostTensor(v, 1, shape);
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.postscale = 3.0;
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allreduce_async(nullptr, "c.x", &t, &o, &h), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  int done = 0;
  EXPECT_EQ(kolo_handle_poll(h, &done), KOLO_OK);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(v[2], 9.0f);
  kolo_handle_free(h);
  EXPECT_EQ(kolo_shutdown(nullptr), KOLO_OK);
  // Without a session every op is a usage error, not a crash.
  EXPECT_EQ(kolo_allreduce_async(nullptr, "c.y", &t, nullptr, &h), KOLO_INVALID_USAGE);
  EXPECT_EQ(h, nullptr);
  EXPECT_NE(std::string(kolo_last_error()).find("kolo_init"), std::string::npos);
}

// kolo_send_async / kolo_recv_async in a world of one: every peer is this rank or outside the
// world, so each call fails at once with a message naming what, and no handle is returned.
TEST_F(CAbi, SendAndRecvRefuseBadPeersAndArguments) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  float v[4] = {};
  int64_t shape[1] = {4};
  kolo_tensor_t t = hostTensor(v, 1, shape);
  kolo_handle_t* h = nullptr;
  const struct {
    kolo_status_t got;
    kolo_status_t want;
    const char* text;
  } cases[] = {
      {kolo_send_async(nullptr, &t, 0, 0, nullptr, &h), KOLO_INVALID_ARGUMENT,
       "send to rank 0 tag 0: rank 0 cannot send to itself"},
      {kolo_recv_async(s, &t, 1, 5, nullptr, &h), KOLO_INVALID_ARGUMENT,
       "recv from rank 1 tag 5: rank 1 is outside process set 0 (ranks 0..0)"},
      {kolo_recv_async(s, &t, 0, 0, nullptr, nullptr), KOLO_INVALID_ARGUMENT,
       "handle output pointer is NULL"},
      {kolo_send_async(s, nullptr, 0, 0, nullptr, &h), KOLO_INVALID_ARGUMENT, "tensor is NULL"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.got, c.want) << c.text;
    EXPECT_EQ(h, nullptr) << c.text;
  }
  // kolo_last_error() holds the last call's message only: check each call right after it.
  EXPECT_EQ(kolo_recv_async(s, &t, 1, 5, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find(cases[1].text), std::string::npos)
      << kolo_last_error();
  EXPECT_EQ(kolo_send_async(s, &t, 0, 0, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find(cases[0].text), std::string::npos)
      << kolo_last_error();
  EXPECT_EQ(kolo_shutdown(nullptr), KOLO_OK);
}

TEST_F(CAbi, Int16ThroughTheAbi) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  int16_t v[3] = {32767, -32768, 7};
  int64_t shape[1] = {3};
  kolo_tensor_t t;
  kolo_tensor_init(&t);
  t.data = v;
  t.ndim = 1;
  t.shape = shape;
  t.dtype = KOLO_INT16;
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.prescale = 2.0;  // truncates and saturates at int16's limits
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allreduce_async(s, "c.i16", &t, &o, &h), KOLO_OK) << kolo_last_error();
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  kolo_handle_free(h);
  EXPECT_EQ(v[0], 32767);
  EXPECT_EQ(v[1], -32768);
  EXPECT_EQ(v[2], 14);
  EXPECT_EQ(kolo_shutdown(nullptr), KOLO_OK);
}

TEST_F(CAbi, ArgumentErrorsNameTheProblemAndStayThreadLocal) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  float v[2] = {1, 1};
  int64_t shape[1] = {2};
  kolo_tensor_t t = hostTensor(v, 1, shape);
  kolo_handle_t* h = nullptr;

  kolo_tensor_t old = t;
  old.struct_size = 8;
  EXPECT_EQ(kolo_allreduce_async(s, "a", &old, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find("struct_size"), std::string::npos);

  EXPECT_EQ(kolo_allreduce_async(s, nullptr, &t, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_EQ(kolo_allreduce_async(s, "a", nullptr, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_EQ(kolo_allreduce_async(s, "a", &t, nullptr, nullptr), KOLO_INVALID_ARGUMENT);
  kolo_tensor_t badType = t;
  badType.dtype = static_cast<kolo_dtype_t>(42);
  EXPECT_EQ(kolo_allreduce_async(s, "a", &badType, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find("dtype"), std::string::npos);

  // Another thread's error does not overwrite this thread's message.
  const std::string mine = kolo_last_error();
  std::thread([&] {
    EXPECT_EQ(kolo_barrier_async(s, nullptr, nullptr, &h), KOLO_INVALID_ARGUMENT);
  }).join();
  EXPECT_EQ(mine, kolo_last_error());

  // An unknown process set is named in the error.
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.process_set = 7;
  EXPECT_EQ(kolo_allreduce_async(s, "a", &t, &o, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find("process set 7"), std::string::npos);

  EXPECT_STREQ(kolo_status_name(KOLO_MISMATCH), "KOLO_MISMATCH");
  EXPECT_STREQ(kolo_status_name(static_cast<kolo_status_t>(99)), "KOLO_UNKNOWN_STATUS");
  EXPECT_EQ(kolo_abi_version(), KOLO_ABI_VERSION);
  EXPECT_EQ(kolo_shutdown(s), KOLO_OK);
}

TEST_F(CAbi, AllgatherOutputComesThroughTheHandle) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  float v[4] = {1, 2, 3, 4};
  int64_t shape[2] = {2, 2};
  kolo_tensor_t t = hostTensor(v, 2, shape);
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allgather_async(s, "g", &t, nullptr, &h), KOLO_OK) << kolo_last_error();
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  const void* data = nullptr;
  size_t bytes = 0;
  int32_t ndim = 0;
  int64_t dims[2] = {0, 0};
  ASSERT_EQ(kolo_handle_output(h, &data, &bytes, &ndim, dims, 2), KOLO_OK);
  EXPECT_EQ(bytes, sizeof v);
  EXPECT_EQ(ndim, 2);
  EXPECT_EQ(dims[0], 2);
  EXPECT_EQ(std::memcmp(data, v, sizeof v), 0);
  kolo_handle_free(h);
  EXPECT_EQ(kolo_shutdown(s), KOLO_OK);
}

TEST_F(CAbi, AllgatherWritesAnOutputWhoseSizeTheCallerGave) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  float v[4] = {1, 2, 3, 4};
  float out[4] = {0, 0, 0, 0};
  int64_t shape[2] = {2, 2};
  kolo_tensor_t t = hostTensor(v, 2, shape);
  EXPECT_EQ(t.output_bytes, 0U);  // kolo_tensor_init: Kolo allocates
  t.output = out;
  t.output_bytes = sizeof out;
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allgather_async(s, "g", &t, nullptr, &h), KOLO_OK) << kolo_last_error();
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  const void* data = nullptr;
  size_t bytes = 0;
  ASSERT_EQ(kolo_handle_output(h, &data, &bytes, nullptr, nullptr, 0), KOLO_OK);
  EXPECT_EQ(data, out);
  EXPECT_EQ(bytes, sizeof out);
  EXPECT_EQ(std::memcmp(out, v, sizeof v), 0);
  kolo_handle_free(h);
  t.output_bytes = sizeof out - 4;  // one float short
  ASSERT_EQ(kolo_allgather_async(s, "g", &t, nullptr, &h), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(kolo_handle_wait(h, 10.0), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error())
                .find("the result is 16 bytes but the output given "
                      "holds 12"),
            std::string::npos)
      << kolo_last_error();
  kolo_handle_free(h);
  EXPECT_EQ(kolo_shutdown(s), KOLO_OK);
}

TEST_F(CAbi, GroupedOutputsComeThroughTheHandleByIndex) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  float a[4] = {1, 2, 3, 4};
  float b[3] = {5, 6, 7};
  int64_t shapeA[2] = {2, 2};
  int64_t shapeB[1] = {3};
  kolo_tensor_t ts[2] = {hostTensor(a, 2, shapeA), hostTensor(b, 1, shapeB)};
  const char* names[2] = {"ga", "gb"};
  kolo_op_options_t o;
  kolo_op_options_init(&o);
  o.reduce_op = KOLO_SUM;
  o.postscale = 2.0;
  for (bool gather : {true, false}) {
    kolo_handle_t* h = nullptr;
    const kolo_status_t st = gather ? kolo_grouped_allgather_async(s, 2, names, ts, &o, &h)
                                    : kolo_grouped_reducescatter_async(s, 2, names, ts, &o, &h);
    ASSERT_EQ(st, KOLO_OK) << kolo_last_error();
    ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
    const float scale = gather ? 1.0f : 2.0f;  // allgather ignores the scale factors
    for (int32_t i = 0; i < 2; ++i) {
      const void* data = nullptr;
      size_t bytes = 0;
      int32_t ndim = 0;
      int64_t dims[2] = {0, 0};
      ASSERT_EQ(kolo_handle_output_at(h, i, &data, &bytes, &ndim, dims, 2), KOLO_OK);
      const float* want = i == 0 ? a : b;
      ASSERT_EQ(bytes, (i == 0 ? 4 : 3) * sizeof(float)) << i;
      EXPECT_EQ(dims[0], i == 0 ? 2 : 3) << i;
      for (size_t k = 0; k < bytes / sizeof(float); ++k) {
        EXPECT_EQ(static_cast<const float*>(data)[k], want[k] * scale) << i << " " << k;
      }
    }
    EXPECT_EQ(kolo_handle_output_at(h, 2, nullptr, nullptr, nullptr, nullptr, 0),
              KOLO_INVALID_ARGUMENT);
    EXPECT_NE(std::string(kolo_last_error()).find("output index 2 is out of range"),
              std::string::npos)
        << kolo_last_error();
    kolo_handle_free(h);
  }
  kolo_handle_t* h = nullptr;
  EXPECT_EQ(kolo_grouped_allgather_async(s, 0, names, ts, nullptr, &h), KOLO_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kolo_last_error()).find("grouped allgather needs count > 0"),
            std::string::npos);
  EXPECT_EQ(kolo_shutdown(s), KOLO_OK);
}

TEST_F(CAbi, BuildInfoNeedsNoSessionAndIsConsistent) {
  kolo_build_info_t info{};
  EXPECT_EQ(kolo_build_info(&info), KOLO_INVALID_ARGUMENT) << "struct_size unset";
  EXPECT_NE(std::string(kolo_last_error()).find("struct_size"), std::string::npos);
  EXPECT_EQ(kolo_build_info(nullptr), KOLO_INVALID_ARGUMENT);
  info.struct_size = sizeof info;
  info.nccl_version = -7;
  ASSERT_EQ(kolo_build_info(&info), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(info.nccl != 0, info.nccl_version > 0) << info.nccl_version;
  EXPECT_TRUE(!info.nccl || info.cuda) << "NCCL serves CUDA tensors, so it implies CUDA";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_F(CAbi, TimelineStartsAndStopsAtRunTime) {
  kolo_session_t* s = nullptr;
  ASSERT_EQ(kolo_init(nullptr, &s), KOLO_OK) << kolo_last_error();
  const std::string path = ::testing::TempDir() + "kolo_c_abi_timeline.json";
  const std::string other = ::testing::TempDir() + "kolo_c_abi_timeline_other.json";
  EXPECT_EQ(kolo_stop_timeline(s), KOLO_OK) << "stopping with none open is a no-op";
  EXPECT_EQ(kolo_start_timeline(s, nullptr, 0), KOLO_INVALID_ARGUMENT);
  ASSERT_EQ(kolo_start_timeline(s, path.c_str(), 1), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(kolo_start_timeline(s, path.c_str(), 1), KOLO_OK) << "same path again: no-op";
  EXPECT_EQ(kolo_start_timeline(s, other.c_str(), 0), KOLO_INVALID_USAGE);
  EXPECT_NE(std::string(kolo_last_error()).find(path), std::string::npos) << kolo_last_error();
  float v[2] = {1, 2};
  int64_t shape[1] = {2};
  kolo_tensor_t t = hostTensor(v, 1, shape);
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allreduce_async(s, "c.timeline.op", &t, nullptr, &h), KOLO_OK);
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  kolo_handle_free(h);
  // A handle completes just before its event is written; a barrier's later cycle orders
  // that write before the stop.
  ASSERT_EQ(kolo_barrier_async(s, "c.timeline.barrier", nullptr, &h), KOLO_OK);
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  kolo_handle_free(h);
  ASSERT_EQ(kolo_stop_timeline(s), KOLO_OK);
  const std::string trace = readFile(path);
  EXPECT_EQ(trace.rfind("[\n", 0), 0u) << trace;
  EXPECT_EQ(trace.substr(trace.size() - 3), "\n]\n") << "stop() closes the JSON array";
  EXPECT_NE(trace.find("\"c.timeline.op\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("\"ALLREDUCE\""), std::string::npos) << trace;
  EXPECT_NE(trace.find("CYCLE "), std::string::npos) << "mark_cycles=1 marks cycles";
  // Ops after stop() are not recorded; a new start truncates and begins a fresh file.
  ASSERT_EQ(kolo_allreduce_async(s, "c.timeline.after", &t, nullptr, &h), KOLO_OK);
  ASSERT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK);
  kolo_handle_free(h);
  EXPECT_EQ(readFile(path), trace);
  ASSERT_EQ(kolo_start_timeline(s, other.c_str(), 0), KOLO_OK) << kolo_last_error();
  EXPECT_EQ(kolo_shutdown(s), KOLO_OK);
  EXPECT_EQ(readFile(other), "[\n\n]\n") << "shutdown closes an open timeline";
  EXPECT_EQ(kolo_start_timeline(nullptr, path.c_str(), 0), KOLO_INVALID_USAGE);
}

}  // namespace
