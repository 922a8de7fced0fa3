// Cross-rank agreement for one ready name: checks that every rank that submitted it agrees on
// the fields its op needs and builds the response, or an error response that names the
// tensor, the field, the values and which ranks sent which.
// Thread: coordinator (of every member: each runs its own Negotiator replica), called by
// Negotiator.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "kolo/core/request.h"
#include "kolo/core/response.h"

namespace kolo::core::detail {

// byMember[i] is the request of members[i] (global rank), or nullopt for a joined rank that
// counts as having submitted. At least one entry is present.
Response agreeOnTensor(const std::string& name, std::span<const std::optional<Request>> byMember,
                       std::span<const int32_t> members, int32_t processSetId);

// "[0,2]" for a list of ranks.
std::string formatRanks(std::span<const int32_t> ranks);
// "[2, 3]" for a shape.
std::string formatShape(std::span<const int64_t> shape);

// Why `part` (one name of a group) cannot share a response with `first` (the group's first
// name, `firstName`): a different op, dtype, reduce op, device or scale factors; "" if it can.
std::string groupMismatch(const Response& part, const Response& first,
                          const std::string& firstName);

Response errorResponse(OpType op, std::vector<std::string> names, Code code, std::string message);

}  // namespace kolo::core::detail
