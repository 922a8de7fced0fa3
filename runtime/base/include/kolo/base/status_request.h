// The store keys of a live verdict asked through the job's store (docs/RELIABILITY.md, "Live
// verdict"), shared by the ranks (runtime/core/src/live_status.h) and kolorun:
//   <job>/status/requests          counter: the number of the latest request
//   <job>/status/<n>/request       request n, "time T ranks all|R1,R2,... WHO: WHY" (T: the
//                                  asker's wall clock); every rank's status thread waits on
//                                  it and the ranks named dump their flight recorder and answer
//   <job>/status/<n>/dump/<rank>   rank's answer: its dump text (with its Python stacks)
//   <job>/status/<n>/claim         a stall claims the next request after n (add 1; the first to
//                                  get 1 asks), so ranks warning together ask once
// Thread: any.
#pragma once

#include <string>
#include <string_view>

namespace kolo {

std::string statusRequestCounterKey(std::string_view jobId);
std::string statusRequestKey(std::string_view jobId, long long request);
std::string statusDumpKey(std::string_view jobId, long long request, int rank);
std::string statusClaimKey(std::string_view jobId, long long request);

}  // namespace kolo
