// The single-process C ABI tests' fixture and tensor helper (tests/unit/engine/c_abi_test.cc,
// tests/unit/gpu/gpu_c_abi_test.cc): kolo_init must form a world of one whatever launcher
// variables the environment running the tests carries.
// Thread: test thread only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>

#include "kolo.h"

namespace kolo::test {

class SingleProcessCAbi : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"KOLO_RANK", "KOLO_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
      ::unsetenv(v);
    }
  }
};

// A float32 host tensor over the caller's `data` and `shape` (both must outlive its use).
inline kolo_tensor_t hostTensor(float* data, int32_t ndim, int64_t* shape) {
  kolo_tensor_t t;
  kolo_tensor_init(&t);
  t.data = data;
  t.ndim = ndim;
  t.shape = shape;
  return t;
}

}  // namespace kolo::test
