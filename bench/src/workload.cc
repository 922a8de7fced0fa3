#include "workload.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kolo/base/settings.h"

#ifndef KOLO_BENCH_WORKLOAD_DIR
#define KOLO_BENCH_WORKLOAD_DIR ""
#endif

namespace kolo::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

Expected<std::vector<int64_t>> parseShape(std::string_view text) {
  std::vector<int64_t> shape;
  while (true) {
    size_t x = text.find('x');
    std::string_view part = text.substr(0, x);
    int64_t dim = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), dim);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || dim <= 0) {
      return makeStatus(Code::kInvalidArgument, "dimension '{}' is not a positive integer", part);
    }
    shape.push_back(dim);
    if (x == std::string_view::npos) break;
    text.remove_prefix(x + 1);
  }
  return shape;
}

Expected<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeStatus(Code::kUnavailable, "cannot read workload file '{}': {}", path.string(),
                      std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

uint64_t Workload::totalElements() const {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.elements;
  return total;
}

Expected<Workload> parseWorkload(std::string_view text, const std::string& source) {
  Workload workload;
  workload.name = std::filesystem::path(source).stem().string();
  std::set<std::string, std::less<>> seen;
  size_t lineNumber = 0;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = trim(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    ++lineNumber;
    if (line.empty() || line.front() == '#') continue;
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) {
      return makeStatus(Code::kInvalidArgument, "{}:{}: '{}' has no shape (expected: name 64x3x7x7)",
                        source, lineNumber, line);
    }
    std::string_view name = line.substr(0, space);
    std::string_view shapeText = trim(line.substr(space));
    if (shapeText.find_first_of(" \t") != std::string_view::npos) {
      return makeStatus(Code::kInvalidArgument,
                        "{}:{}: '{}' has more than a name and a shape (expected: name 64x3x7x7)",
                        source, lineNumber, line);
    }
    auto shape = parseShape(shapeText);
    if (!shape) {
      return makeStatus(Code::kInvalidArgument, "{}:{}: tensor '{}': {}", source, lineNumber,
                        name, shape.status().message());
    }
    if (!seen.emplace(name).second) {
      return makeStatus(Code::kInvalidArgument, "{}:{}: tensor '{}' is listed twice", source,
                        lineNumber, name);
    }
    WorkloadTensor tensor{std::string(name), std::move(*shape), 1};
    for (int64_t d : tensor.shape) tensor.elements *= static_cast<uint64_t>(d);
    workload.tensors.push_back(std::move(tensor));
  }
  if (workload.tensors.empty()) {
    return makeStatus(Code::kInvalidArgument, "{}: no tensors listed", source);
  }
  return workload;
}

Expected<Workload> loadWorkload(const std::string& nameOrPath) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(nameOrPath, ec)) {
    KOLO_ASSIGN_OR_RETURN(std::string text, readFile(nameOrPath));
    return parseWorkload(text, nameOrPath);
  }
  std::vector<fs::path> directories;
  if (auto dir = settingText("KOLO_BENCH_WORKLOADS")) directories.emplace_back(*dir);
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) directories.push_back(self.parent_path() / "workloads");
  if (std::strlen(KOLO_BENCH_WORKLOAD_DIR) > 0) directories.emplace_back(KOLO_BENCH_WORKLOAD_DIR);
  std::string looked;
  for (const fs::path& dir : directories) {
    fs::path candidate = dir / (nameOrPath + ".txt");
    if (fs::is_regular_file(candidate, ec)) {
      KOLO_ASSIGN_OR_RETURN(std::string text, readFile(candidate));
      auto workload = parseWorkload(text, candidate.string());
      if (workload) workload->name = nameOrPath;
      return workload;
    }
    looked += (looked.empty() ? "" : ", ") + candidate.string();
  }
  return makeStatus(Code::kUnavailable,
                    "workload '{}' is neither a file nor a built-in workload (looked for {})",
                    nameOrPath, looked.empty() ? std::string("nothing") : looked);
}

}  // namespace kolo::bench
