// Joining an elastic job's current membership generation (see kolo/protocol/elastic.h for the
// contract with kolorun). Plain logic over a KvStore, testable with ranks as threads.
// Thread: the caller's (init).
#pragma once

#include <string>

#include "kolo/base/deadline.h"
#include "kolo/base/kv_store.h"
#include "kolo/base/status.h"

namespace kolo::core {

// Where this process sits in the generation it joined.
struct ElasticMembership {
  long generation = 0;
  long round = 0;        // how many earlier inits this generation's ranks made
  std::string jobId;     // fresh per (generation, round): names segments and keys
  int rank = 0;          // position of this launch rank among the members, ascending
  int size = 1;
  int localRank = 0;     // among members on the same host
  int localSize = 1;
  int crossRank = 0;     // among members with the same local rank, host order
  int crossSize = 1;
};

// Takes a slot in the current generation and waits for the rest of its round. `launchRank` is
// kolorun's KOLO_RANK for this process (stable across generations), `host` its host key.
// kTimeout naming the generation and how many joined when the deadline passes.
Expected<ElasticMembership> joinElasticRound(KvStore& store, const std::string& job,
                                             int launchRank, const std::string& host,
                                             Deadline deadline);

}  // namespace kolo::core
