// PeerPull: single-copy point-to-point on one host. A rendezvous send (more than
// kPeerEagerBytes) over shared memory tells the receiver where its payload lies in the
// sender's memory; the receiver reads it straight into its own buffer with the kernel's
// cross-memory attach (process_vm_readv) and answers "pulled", so the bytes cross once instead
// of twice through the channel's ring, and the sender never posts them. Where the kernel
// refuses (no CMA, a seccomp filter, a ptrace policy), the first refusal turns pulls off for
// the process (logged once) and every transfer takes the ring as before: the sender then gets
// a plain "accepted" and sends its payload. KOLO_SHM_SINGLE_COPY=off keeps the ring always.
// Thread: any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kolo::core {

// Pulls are on for this process: KOLO_SHM_SINGLE_COPY is auto and the kernel has not refused.
bool peerPullEnabled();
// A sender about to advertise its payload: where Yama restricts ptrace to descendants
// (ptrace_scope 1), lets this user's processes read this one's memory, as Open MPI's
// single-copy path does (docs/SECURITY.md). Idempotent.
void allowPeerPulls();
// Reads dst.size() bytes at `address` in process `pid` into `dst`. False when it could not
// (a refusal turns pulls off; a vanished peer or a bad address does not).
bool pullFromPeer(int32_t pid, uint64_t address, std::span<std::byte> dst);

}  // namespace kolo::core
