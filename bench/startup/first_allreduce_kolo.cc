// Not a test: the startup benchmark's Kolo side (bench/startup/slurm_startup.sh). Starts a
// session the way the launcher offers (srun: PMIx or the Slurm step), runs one 4-byte allreduce,
// checks it and exits, so the launcher's wall time is "start to first completed allreduce".
#include <cstdio>

#include "kolo/kolo.hpp"

int main() {
  auto session = kolo::Session::init();
  if (!session.hasValue()) {
    std::fprintf(stderr, "%s\n", session.status().toString().c_str());
    return 2;
  }
  kolo::Session& s = session.value();
  int value = s.rank() + 1;
  kolo::Tensor t{&value, &value, kolo::DataType::kInt32, {1}};
  auto handle = s.allreduce("startup", t, {});
  if (!handle.hasValue() || !handle.value().wait(60).isOk()) return 1;
  const int want = s.size() * (s.size() + 1) / 2;
  if (s.rank() == 0)
    std::printf("first allreduce over %d ranks: %d (want %d)\n", s.size(), value, want);
  const bool ok = value == want;
  return s.shutdown().isOk() && ok ? 0 : 1;
}
