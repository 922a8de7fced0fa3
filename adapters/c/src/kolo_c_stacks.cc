// kolo_stack_dump_path (kolo.h): where a language runtime writes its stacks for the flight
// recorder's SIGUSR1 dump. Needs no session; never fails (an empty path says "none").
#include <algorithm>
#include <cstddef>
#include <string>

#include "kolo.h"
#include "kolo/kolo.hpp"

extern "C" {

size_t kolo_stack_dump_path(char* out, size_t capacity) {
  std::string path;
  try {
    path = kolo::stackDumpPath();
  } catch (...) {
    return 0;
  }
  if (out != nullptr && capacity > path.size()) {
    std::copy(path.begin(), path.end(), out);
    out[path.size()] = '\0';
  }
  return path.size();
}

}  // extern "C"
