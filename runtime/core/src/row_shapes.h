// Shapes of row-wise results (allgather, alltoall, reducescatter): the first dimension counts
// rows, the rest is one row. Shared by the host and the device executors.
#pragma once

#include <cstdint>
#include <vector>

namespace kolo::core {

// Elements in one row: the product of every dimension after the first (1 for 0-d and 1-d).
inline int64_t trailingElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// `shape` with its first dimension replaced by `rows` (a 0-d shape becomes [rows]).
inline std::vector<int64_t> withFirstDim(const std::vector<int64_t>& shape, int64_t rows) {
  std::vector<int64_t> out = shape;
  if (out.empty())
    out.push_back(rows);
  else
    out[0] = rows;
  return out;
}

}  // namespace kolo::core
