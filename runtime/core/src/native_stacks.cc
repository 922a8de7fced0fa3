#include "native_stacks.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "blocked_threads.h"

#if KOLO_HAVE_LIBBACKTRACE
#include <backtrace.h>
#endif

namespace kolo::core {
namespace {

std::string demangle(const char* name) {
  if (name == nullptr) return {};
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string baseName(const char* path) {
  if (path == nullptr || *path == '\0') return "?";
  const std::string_view p(path);
  const size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

struct Symbol {
  std::string function;
  std::string file;  // with ":line", or empty
};

#if KOLO_HAVE_LIBBACKTRACE
backtrace_state* symbolState() {
  // Never freed: libbacktrace keeps what it read of the binaries for later dumps.
  static backtrace_state* state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}

// Every function at `pc`, the innermost inlined one first.
std::vector<Symbol> lookUp(uintptr_t pc) {
  std::vector<Symbol> found;
  backtrace_state* state = symbolState();
  if (state == nullptr) return found;
  backtrace_pcinfo(
      state, pc,
      [](void* data, uintptr_t, const char* file, int line, const char* function) {
        if (function == nullptr) return 0;
        auto* out = static_cast<std::vector<Symbol>*>(data);
        out->push_back({demangle(function),
                        file != nullptr ? fmt::format("{}:{}", file, line) : std::string()});
        return 0;
      },
      [](void*, const char*, int) {}, &found);
  if (!found.empty()) return found;
  backtrace_syminfo(
      state, pc,
      [](void* data, uintptr_t, const char* name, uintptr_t, uintptr_t) {
        if (name != nullptr) static_cast<std::vector<Symbol>*>(data)->push_back({demangle(name), {}});
      },
      [](void*, const char*, int) {}, &found);
  return found;
}
#else
std::vector<Symbol> lookUp(uintptr_t) {
  return {};
}
#endif

std::string describeThread(const BlockedStack& t, bool signalled) {
  std::string text = fmt::format("thread {} ({}): {}, blocked {:.3f} s", t.tid,
                                 t.threadName.empty() ? "?" : t.threadName, t.role, t.seconds);
  if (signalled && !t.answered) {
    text += ": no stack (the thread did not answer Kolo's stack signal in time: it blocks "
            "signals, or is stopped)";
  }
  return text + "\n";
}

}  // namespace

void warmNativeSymbols() {
  static const bool warmed = [] {
    // A pc in libkolo (this function's module) makes libbacktrace read its debug information.
    (void)symbolizeFrames({reinterpret_cast<void*>(&nativeStacksSection)});
    return true;
  }();
  (void)warmed;
}

bool nativeStacksHaveSymbols() {
  return KOLO_HAVE_LIBBACKTRACE != 0;
}

std::vector<std::string> symbolizeFrames(const std::vector<void*>& pcs) {
  std::vector<std::string> lines;
  for (size_t i = 0; i < pcs.size(); ++i) {
    const auto pc = reinterpret_cast<uintptr_t>(pcs[i]);
    // A return address points after its call; the call's line is one byte before it.
    const uintptr_t at = i == 0 || pc == 0 ? pc : pc - 1;
    Dl_info info{};
    const bool known = ::dladdr(reinterpret_cast<void*>(at), &info) != 0;
    const std::string module = known ? baseName(info.dli_fname) : "?";
    std::vector<Symbol> symbols = lookUp(at);
    if (symbols.empty()) {
      if (known && info.dli_sname != nullptr) {
        symbols.push_back({demangle(info.dli_sname), {}});
      } else if (known) {
        const auto base = reinterpret_cast<uintptr_t>(info.dli_fbase);
        symbols.push_back({fmt::format("{}+{:#x}", module, at - base), {}});
      } else {
        symbols.push_back({"??", {}});
      }
    }
    for (size_t k = 0; k < symbols.size(); ++k) {
      const Symbol& s = symbols[k];
      lines.push_back(fmt::format("#{} {:#x} {}{} [{}]{}", i, pc, s.function,
                                  s.file.empty() ? std::string() : " (" + s.file + ")", module,
                                  k + 1 < symbols.size() ? " (inlined)" : ""));
    }
  }
  return lines;
}

std::string nativeStacksSection() {
  const BlockedStacks stacks = captureBlockedStacks();
  const std::string header = "# native stacks (threads blocked in Kolo, most recent call first)";
  if (stacks.threads.empty()) return header + ": none\n";
  std::string text = fmt::format("{}: {} thread(s)\n", header, stacks.threads.size());
  if (!stacks.unavailable.empty()) text += "# not taken: " + stacks.unavailable + "\n";
  for (const BlockedStack& t : stacks.threads) {
    text += describeThread(t, stacks.unavailable.empty());
    for (const std::string& line : symbolizeFrames(t.frames)) text += "  " + line + "\n";
  }
  return text;
}

}  // namespace kolo::core
