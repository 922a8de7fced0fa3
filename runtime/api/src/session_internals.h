// What kolo.hpp's Session and Handle hold (an Engine and its handles), and the one door through
// which the rest of runtime/api builds a Session around an Engine or reads it back. Private to
// runtime/api: the public header only forward-declares the Impl structs.
// Thread: any (the Engine's own rules apply to what it is asked).
#pragma once

#include <memory>

#include "kolo/core/engine.h"
#include "kolo/kolo.hpp"

namespace kolo {

struct Handle::Impl {
  core::Handle handle;
};

struct Session::Impl {
  std::unique_ptr<core::Engine> engine;
  int localRank = 0, localSize = 1, crossRank = 0, crossSize = 1;

  Expected<Handle> wrap(Expected<core::Handle> h) const {
    if (!h.hasValue()) return h.status();
    return Handle(std::make_shared<const Handle::Impl>(Handle::Impl{std::move(h).value()}));
  }
  Status usable() const {
    if (!engine) return Status(Code::kInvalidUsage, "the session was not initialized");
    return Status::ok();
  }
};

struct SessionInternals {
  // The KOLO_* environment's configuration with the caller's overrides applied.
  static core::EngineConfig engineConfig(const SessionConfig& config);
  // A Session owning `engine`; local and cross placement from the launcher's environment, or
  // from the engine where an elastic join computed it.
  static Session wrapEngine(std::unique_ptr<core::Engine> engine);
  // Null for a session that was never initialized or was moved from.
  static const core::Engine* engineOf(const Session& session);
};

}  // namespace kolo
