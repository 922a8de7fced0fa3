// The C ABI's CUDA side without a device: a CUDA tensor fails with KOLO_UNAVAILABLE and a
// message naming the device; the tensor struct's `stream` field is optional for callers built
// against the shorter struct.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "kolo.h"
#include "kolo/collectives/gpu.h"
#include "support/c_abi_fixture.h"

namespace {

class GpuCAbi : public kolo::test::SingleProcessCAbi {
 protected:
  void SetUp() override {
    SingleProcessCAbi::SetUp();
    ASSERT_EQ(kolo_init(nullptr, &session_), KOLO_OK) << kolo_last_error();
  }
  void TearDown() override {
    if (session_) {
      EXPECT_EQ(kolo_shutdown(session_), KOLO_OK) << kolo_last_error();
    }
  }
  kolo_session_t* session_ = nullptr;
};

TEST_F(GpuCAbi, TensorInitClearsTheStreamAndTheShorterStructIsAccepted) {
  float v[2] = {1, 2};
  int64_t shape[1] = {2};
  kolo_tensor_t t;
  t.stream = &t;  // garbage that init must clear
  kolo_tensor_init(&t);
  EXPECT_EQ(t.stream, nullptr);
  EXPECT_EQ(t.struct_size, sizeof(kolo_tensor_t));
  t.data = v;
  t.ndim = 1;
  t.shape = shape;
  // A caller compiled before `stream` existed passes the shorter size; its (absent) stream
  // must not be read.
  t.struct_size = offsetof(kolo_tensor_t, stream);
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allreduce_async(session_, "abi.short", &t, nullptr, &h), KOLO_OK)
      << kolo_last_error();
  EXPECT_EQ(kolo_handle_wait(h, 10.0), KOLO_OK) << kolo_last_error();
  kolo_handle_free(h);
  EXPECT_EQ(v[1], 2.0f);
  t.struct_size = offsetof(kolo_tensor_t, stream) - 1;
  EXPECT_EQ(kolo_allreduce_async(session_, "abi.shorter", &t, nullptr, &h), KOLO_INVALID_ARGUMENT);
}

TEST_F(GpuCAbi, ACudaTensorWithoutADeviceFailsNamingTheDevice) {
  if (kolo::gpu::deviceCount().hasValue()) GTEST_SKIP() << "a CUDA device is present";
  float v[4] = {1, 2, 3, 4};
  int64_t shape[1] = {4};
  kolo_tensor_t t = kolo::test::hostTensor(v, 1, shape);
  t.device = 0;
  kolo_handle_t* h = nullptr;
  ASSERT_EQ(kolo_allreduce_async(session_, "abi.cuda", &t, nullptr, &h), KOLO_OK)
      << kolo_last_error();
  EXPECT_EQ(kolo_handle_wait(h, 10.0), KOLO_UNAVAILABLE);
  const std::string error = kolo_last_error();
  EXPECT_NE(error.find("gpu:0"), std::string::npos) << error;
  EXPECT_NE(error.find("abi.cuda"), std::string::npos) << error;
  kolo_handle_free(h);
  EXPECT_EQ(v[0], 1.0f) << "a failed op must not touch the tensor";
}

}  // namespace
