// Where the ranks run: `-H host1:slots,host2:slots` and `--hostfile FILE`, and which of the named
// hosts are this machine. A host named `localhost`, a loopback address (any 127.x.y.z) or this
// machine's own name is local and spawned directly; its ranks bind the loopback address it names
// (127.0.0.2 for "127.0.0.2"), so `-H 127.0.0.1:2,127.0.0.2:2` runs two distinct hosts here.
//
// Thread: the launcher's main thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kolo/base/host_address.h"
#include "kolo/base/status.h"
#include "kolo/launcher/host_assignment.h"

namespace kolo::launcher {

// "a:2,b:4,c" (a bare name has 1 slot). Names are not yet classified (see classifyHosts).
Expected<std::vector<HostSlots>> parseHostList(std::string_view text);

// Hostfile text: one host per line as `host slots=N`, `host:N` or bare `host` (1 slot); `#`
// starts a comment; blank lines are skipped. An error names `fileName` and the line number.
Expected<std::vector<HostSlots>> parseHostfile(std::string_view content,
                                               const std::string& fileName);
Expected<std::vector<HostSlots>> readHostfile(const std::string& path);

bool isLoopbackAddress(std::string_view name);
bool isLocalHost(std::string_view name, std::string_view localHostname);

// Sets `local` and `address` for each host. Local hosts bind what they name (127.x literals) or
// `localAddress`; remote hosts bind their resolved IPv4 address (the name if it does not resolve
// here). Resolution happens once, in the launcher, so every rank agrees.
void classifyHosts(std::vector<HostSlots>& hosts, std::string_view localHostname,
                   const std::string& localAddress);

// "a,,b" -> {"a", "", "b"}: unlike splitString, empty parts are kept (they are errors or, in a
// hostfile, lines that count).
std::vector<std::string> splitKeepingEmpty(std::string_view text, char separator);


}  // namespace kolo::launcher
