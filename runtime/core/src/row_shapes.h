// Shapes of row-wise results (allgather, alltoall, reducescatter): the first dimension counts
// rows, the rest is one row. Shared by the host and the device executors.
#pragma once

#include <cstddef>
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

// This member's side of an alltoall whose n x n matrix `sizes` (row-major) counts the rows
// member i sends to member j: the bytes it sends to and receives from each member, the rows it
// receives from each (what the caller reports as received splits) and their total.
struct AlltoallSplits {
  std::vector<size_t> sendBytes;
  std::vector<size_t> recvBytes;
  std::vector<int64_t> receivedRows;
  int64_t rows = 0;
};

inline AlltoallSplits alltoallSplits(const std::vector<int64_t>& sizes, size_t n, size_t me,
                                     uint64_t rowBytes) {
  AlltoallSplits s{std::vector<size_t>(n), std::vector<size_t>(n), std::vector<int64_t>(n), 0};
  for (size_t q = 0; q < n; ++q) {
    s.sendBytes[q] = static_cast<size_t>(sizes[me * n + q]) * rowBytes;
    s.receivedRows[q] = sizes[q * n + me];
    s.recvBytes[q] = static_cast<size_t>(s.receivedRows[q]) * rowBytes;
    s.rows += s.receivedRows[q];
  }
  return s;
}

}  // namespace kolo::core
