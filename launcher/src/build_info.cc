#include "kolo/launcher/build_info.h"

#include <fmt/format.h>

#include "kolo/base/settings_report.h"
#include "kolo/launcher/build_config.h"

namespace kolo::launcher {

std::string checkBuildReport() {
  auto row = [](bool on, const char* name, const char* what) {
    return fmt::format("  [{}] {:<14} {}\n", on ? "X" : " ", name, what);
  };
  std::string text = fmt::format("Kolo {} was built with:\n", KOLO_BUILD_VERSION);
  text += row(true, "shm", "shared-memory transport between ranks on one host");
  text += row(true, "tcp", "TCP transport between hosts");
  text += row(KOLO_BUILD_WITH_MPI, "MPI", "Open MPI backend (KOLO_CPU_OPERATIONS=mpi, --mpi)");
  text += row(KOLO_BUILD_WITH_NCCL, "NCCL", "NCCL backend for GPU tensors");
  text += row(KOLO_BUILD_WITH_CUDA, "CUDA", "CUDA device memory support");
  text += row(KOLO_BUILD_WITH_HWLOC, "hwloc", "topology discovery");
  text += row(KOLO_BUILD_WITH_TORCH, "torch adapter", "kolo.torch (Horovod-compatible API)");
  return text;
}

std::string helpEnvTable() {
  return settingsHelpTable();
}

}  // namespace kolo::launcher
