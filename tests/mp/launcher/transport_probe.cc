// A rank program for kolorun's security tests: connects the TCP transport exactly as a Kolo
// world does (store from KOLO_STORE, bind address and job id from the rank's environment), with
// the last rank starting its connection phase late, so that the other ranks sit in the TCP
// bootstrap with their listeners open while the test inspects them or talks to them.
//   transport_probe DELAY_SECONDS
// Prints "rank R: tcp connected to N peers" and exits 0 once every peer is connected.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "kolo/base/env.h"
#include "kolo/collectives/world.h"
#include "kolo/protocol/env_contract.h"
#include "kolo/rendezvous/store_factory.h"
#include "transport/tcp/tcp_bootstrap.h"

int main(int argc, char** argv) {
  using namespace kolo;
  const double delay = argc > 1 ? std::atof(argv[1]) : 0.0;
  auto spec = worldSpecFromEnv();
  if (!spec) {
    std::fprintf(stderr, "transport_probe: %s\n", spec.status().toString().c_str());
    return 1;
  }
  auto store = openStore(getEnv(protocol::kEnvStore).value_or(""));
  if (!store) {
    std::fprintf(stderr, "transport_probe: %s\n", store.status().toString().c_str());
    return 1;
  }
  if (spec->rank == spec->size - 1) {
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
  auto transport = connectTcpTransport(**store, *spec);
  if (!transport) {
    std::fprintf(stderr, "transport_probe: %s\n", transport.status().toString().c_str());
    return 1;
  }
  std::printf("rank %d: tcp connected to %d peers\n", spec->rank, spec->size - 1);
  return 0;
}
