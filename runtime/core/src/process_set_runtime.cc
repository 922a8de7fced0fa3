#include "process_set_runtime.h"

namespace kolo::core {

ProcessSetRuntime::ProcessSetRuntime(int32_t id, std::vector<int32_t> members, int32_t globalRank,
                                     std::shared_ptr<Communicator> comm, const EngineConfig& config,
                                     std::shared_ptr<Timeline> timeline)
    : set_{id, std::move(members), globalRank},
      comm_(std::move(comm)),
      timeline_(std::move(timeline)),
      peers_(*comm_, set_),
      agreement_(globalRank, comm_->abortToken()),
      recording_(set_),
      go_(*comm_, set_),
      exchange_(*comm_, set_, agreement_),
      tuning_(set_, *comm_, go_, config),
      negotiation_(set_, config.cacheCapacity, table_, exchange_, tuning_, recording_,
                   timeline_.get()),
      runner_(set_, *comm_, tuning_, table_, recording_, agreement_, timeline_.get()),
      stalls_(config.stallWarningSeconds, config.stallShutdownSeconds, globalRank),
      coordinator_(set_, *comm_,
                   CoordinatorRoles{table_, go_, negotiation_, runner_, stalls_, agreement_,
                                    recording_, tuning_}) {}

}  // namespace kolo::core
