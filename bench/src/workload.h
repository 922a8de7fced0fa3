// Workloads for `kolo-bench --workload`: a model's gradient tensors (name and shape), listed
// in the order a backward pass produces them, which is the order they are submitted.
//
// File format, one tensor per line: `name dim0xdim1x...` (e.g. `fc.weight 1000x2048`); a
// scalar is `name 1`. Blank lines and lines starting with '#' are ignored. Every tensor is
// float32 (the gradients of the models shipped in bench/workloads/).
// Thread: any (pure parsing; loadWorkload reads one file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/status.h"

namespace kolo::bench {

struct WorkloadTensor {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t elements = 0;  // product of the shape
};

struct Workload {
  std::string name;  // "resnet50", or the file's stem
  std::vector<WorkloadTensor> tensors;  // in submission (backward) order
  uint64_t totalElements() const;
  uint64_t totalBytes() const { return totalElements() * 4; }  // float32
};

// Parses `text`; `source` names the file in errors ("resnet50.txt:12: ..."). A malformed line
// (missing shape, non-positive or non-numeric dimension, duplicate name) is kInvalidArgument
// naming the source and the line number. An empty workload is an error as well.
Expected<Workload> parseWorkload(std::string_view text, const std::string& source);

// `nameOrPath` is a built-in workload (resnet50, bert-base: bench/workloads/NAME.txt, looked
// up in $KOLO_BENCH_WORKLOADS, then next to the executable's workloads/, then the source
// tree) or a path to a workload file. kUnavailable lists where it looked.
Expected<Workload> loadWorkload(const std::string& nameOrPath);

}  // namespace kolo::bench
