// The elastic membership contract between kolorun and the ranks (header-only: the launcher
// includes it without linking the runtime).
//
// With `kolorun --min-np N`, a rank's failure does not end the job while at least N ranks
// live. kolorun then publishes a new *generation* of the membership in its store: first the
// generation's size, then the generation number. Every kolo init in an elastic job joins the
// current generation: it takes a slot with an atomic add, writes "<launch rank> <host>" there,
// waits until the generation's size of slots in its round are taken, and numbers the ranks by
// their launch rank. A later generation published while a rank waits makes it start over, so a
// failure during the rendezvous itself cannot strand the survivors.
#pragma once

#include <string>

namespace kolo::protocol {

// Set to "1" by kolorun for every rank of a job started with --min-np.
inline constexpr const char* kEnvElastic = "KOLO_ELASTIC";

// Store keys, all below the job id.
inline std::string elasticGenerationKey(const std::string& job) {
  return job + "/elastic/generation";
}
inline std::string elasticSizeKey(const std::string& job, long generation) {
  return job + "/elastic/" + std::to_string(generation) + "/size";
}
inline std::string elasticJoinedKey(const std::string& job, long generation) {
  return job + "/elastic/" + std::to_string(generation) + "/joined";
}
inline std::string elasticSlotKey(const std::string& job, long generation, long slot) {
  return job + "/elastic/" + std::to_string(generation) + "/slot/" + std::to_string(slot);
}

}  // namespace kolo::protocol
