// A store for a job whose world came up without one (mpirun: MPI itself is the rendezvous), so
// that what needs a store after connect (the live verdict, runtime/core/src/live_status.h) works
// in every launch: rank 0 hosts kolorun's store server (kolo/rendezvous/rank_zero_store.h) on a
// port the kernel picks, with a fresh random secret, and broadcasts "ADDRESS PORT HEXSECRET"
// over the world communicator; every rank, rank 0 included, connects. The address is
// 127.0.0.1 when the world holds one host, else rank 0's host name resolved to IPv4.
// Thread: the bootstrap's (every rank calls it at the same point, as a collective).
#pragma once

#include <memory>

#include "kolo/base/kv_store.h"
#include "kolo/collectives/communicator.h"

namespace kolo::core {

Expected<std::unique_ptr<KvStore>> openStoreOverWorld(Communicator& world);

}  // namespace kolo::core
