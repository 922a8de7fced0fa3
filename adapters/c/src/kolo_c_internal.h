// What the C ABI's source files share: the opaque structs behind the C handles, the
// thread-local last error, and `guarded`, which keeps every exception out of C.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "kolo.h"
#include "kolo/kolo.hpp"

struct kolo_session {
  kolo::Session session;
};

struct kolo_handle {
  kolo::Handle handle;
};

namespace kolo::cabi {

// Records the message as kolo_last_error() and returns the status code.
kolo_status_t fail(const kolo::Status& s);
kolo_status_t fail(kolo_status_t code, std::string message);

template <typename Body>
kolo_status_t guarded(Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fail(KOLO_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(KOLO_INTERNAL, "internal error: unknown exception");
  }
}

}  // namespace kolo::cabi
