// What kolorun can tell about the Kolo build without linking the runtime: which backends and
// adapters were compiled (from CMake, through a generated header) and every KOLO_* variable the
// runtime reads, with its default (--check-build, --help-env).
//
// Thread: any; pure functions.
#pragma once

#include <string>

namespace kolo::launcher {

// The --check-build report: one "[X] name" / "[ ] name" line per backend and adapter.
std::string checkBuildReport();

// The --help-env table: variable, default, type, meaning; one row per declared KOLO_* setting
// (runtime/base's settings table, the same list KOLO_PRINT_CONFIG=1 prints).
std::string helpEnvTable();

}  // namespace kolo::launcher
