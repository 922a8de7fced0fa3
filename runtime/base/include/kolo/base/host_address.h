// This machine's IPv4 addresses, for what binds a listening socket (kolorun's store and the
// ranks' TCP transports), and its name.
// Thread: any.
#pragma once

#include <string>

#include "kolo/base/status.h"

namespace kolo {

// The IPv4 address of interface `name` (getifaddrs), or an error naming it and the interfaces
// that have one.
Expected<std::string> interfaceAddress(const std::string& name);
// This machine's first non-loopback IPv4 address of an interface that is up; "127.0.0.1" when
// it has none.
std::string primaryAddress();
// gethostname(); empty when it fails.
std::string hostName();
// The name this rank's host goes by in the job: KOLO_HOSTNAME (kolorun sets it), else
// hostName().
std::string jobHostName();

}  // namespace kolo
