#include "kolo/base/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace kolo {

void nameThisThread(const char* name) {
  constexpr size_t kMaxName = 15;  // the kernel's limit, without the terminating zero
  const std::string cut(name, std::min(std::strlen(name), kMaxName));
  pthread_setname_np(pthread_self(), cut.c_str());
}

}  // namespace kolo
