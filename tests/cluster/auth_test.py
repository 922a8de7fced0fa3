#!/usr/bin/env python3
"""ctest cluster.hosts2x2.auth: strangers on the emulated cluster's data plane (docs/CLUSTER.md).

Runs on h1 of a 2-host x 2-rank cluster (tests/cluster/run.sh, CLUSTER_HOSTS and CLUSTER_TAG
set). First a short job A runs while this script records, on h1's eth0, the bytes rank 2 or 3
(on h2) sent to a rank on h1: a real hello and its proof. Then job B, the multi-process
collectives sweep, starts with rank 3's connects held (hold_connect.so), so ranks 0-2 sit in
the TCP connection phase; rank 0's listening port is read from /proc (its socket inodes). From
h2, a process that is not part of the job connects to that port and sends
  garbage   text that is not a hello,
  forged    a hello with job B's id (not a secret) claiming rank 3, then a proof made without
            the job secret,
  replayed  job A's recorded hello and proof.
Each must be dropped by rank 0 with a warning naming the stranger's address and port and the
reason; then rank 3 is released and every collective must pass on every rank.
Usage: auth_test.py KOLORUN PROGRAM PROBE HOLD_LIBRARY
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

H1, H2 = "10.215.0.11", "10.215.0.12"
HELLO_FIXED = 52  # magic, version, flags, rank, size, job id length, 32-byte nonce
PROOF = 32


def fail(msg):
    print(f"FAILED cluster.hosts2x2.auth: {msg}", file=sys.stderr)
    sys.exit(1)


def hello(job_id, rank, size):
    return (b"KOLH" + struct.pack("<HHIII", 2, 0, rank, size, len(job_id)) + os.urandom(32) +
            job_id.encode())


# ---- job A: record a real hello and proof crossing from h2 to h1 -----------------------------

class Recorder(threading.Thread):
    """Reassembles the TCP streams h2 -> h1 seen on eth0 (an AF_PACKET socket)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        self.sock.bind(("eth0", 0x0800))
        self.sock.settimeout(0.2)
        self.streams = {}  # (sport, dport) -> [isn, {offset: bytes}]
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                frame = self.sock.recv(65600)
            except socket.timeout:
                continue
            ip = frame[14:]
            if len(ip) < 40 or ip[9] != 6 or socket.inet_ntoa(ip[12:16]) != H2:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack("!H", ip[2:4])[0]
            tcp = ip[ihl:total]
            sport, dport, seq = struct.unpack("!HHI", tcp[:8])
            flags = tcp[13]
            payload = tcp[(tcp[12] >> 4) * 4:]
            stream = self.streams.setdefault((sport, dport), [None, {}])
            if flags & 0x02:  # SYN
                stream[0] = seq + 1
            elif payload and stream[0] is not None:
                stream[1][(seq - stream[0]) & 0xffffffff] = payload

    def hellos(self):
        """(hello, proof) of each recorded stream that starts with a complete hello and proof."""
        found = []
        for _, parts in self.streams.values():
            data = bytearray()
            for offset in sorted(parts):
                if offset == len(data):
                    data += parts[offset]
            if len(data) >= HELLO_FIXED and data[:4] == b"KOLH":
                end = HELLO_FIXED + struct.unpack("<I", data[16:20])[0]
                if len(data) >= end + PROOF:
                    found.append((bytes(data[:end]), bytes(data[end:end + PROOF])))
        return found


def record_job_a(kolorun, probe):
    recorder = Recorder()
    recorder.start()
    try:
        out = subprocess.run([kolorun, "-H", os.environ["CLUSTER_HOSTS"], "--timeout", "30",
                              probe, "0"], capture_output=True, text=True, timeout=40)
    finally:
        recorder.stop = True
        recorder.join()
    if out.returncode != 0:
        fail(f"job A exited {out.returncode}:\n{out.stdout}{out.stderr}")
    found = recorder.hellos()
    if not found:
        fail(f"no hello and proof from h2 recorded on h1's eth0 ({len(recorder.streams)} streams)")
    return found[0]


# ---- job B: strangers during its connection phase -------------------------------------------

def environ_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            items = f.read().split(b"\0")
    except OSError:
        return {}
    return dict(i.decode(errors="replace").split("=", 1) for i in items if b"=" in i)


def listeners_of(pid):
    """(address, port) of the listening IPv4 TCP sockets process `pid` holds."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        with open(f"/proc/{pid}/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return []
    found = []
    for row in rows:
        if row[3] == "0A" and row[9] in inodes:
            address, port = row[1].split(":")
            found.append((socket.inet_ntoa(struct.pack("<I", int(address, 16))), int(port, 16)))
    return found


def rank0_listener(program, kolorun_proc, deadline_s=30):
    real = os.path.realpath(program)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if kolorun_proc.poll() is not None:
            fail(f"job B exited {kolorun_proc.returncode} before rank 0 listened")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.path.realpath(f"/proc/{entry}/exe") != real:
                    continue
            except OSError:
                continue
            env = environ_of(entry)
            if env.get("KOLO_RANK") != "0":
                continue
            found = [(a, p) for a, p in listeners_of(entry) if a == H1]
            if found:
                return found[0][0], found[0][1], env["KOLO_JOB_ID"]
        time.sleep(0.05)
    fail(f"rank 0 of job B did not listen on {H1} within {deadline_s} s")


def stranger(tag, address, port, payload_hex, answer_bytes, proof_hex):
    """Runs as a process on h2: prints its source port, then whether rank 0 closed on it."""
    args = [sys.executable, os.path.abspath(__file__), "--stranger", address, str(port),
            payload_hex, str(answer_bytes), proof_hex]
    out = subprocess.run(["ip", "netns", "exec", f"kc{tag}-h2", *args], capture_output=True,
                         text=True, timeout=30)
    if out.returncode != 0:
        fail(f"stranger {args[5:]} on h2: exit {out.returncode}: {out.stdout}{out.stderr}")
    return out.stdout.split()


def stranger_main(address, port, payload_hex, answer_bytes, proof_hex):
    s = socket.create_connection((address, int(port)), timeout=15)
    print(s.getsockname()[1], flush=True)
    s.sendall(bytes.fromhex(payload_hex))
    got = b""
    while len(got) < int(answer_bytes):
        chunk = s.recv(int(answer_bytes) - len(got))
        if not chunk:
            print("closed-early")
            return
        got += chunk
    if proof_hex != "-":
        s.sendall(bytes.fromhex(proof_hex))
    try:
        rest = s.recv(1)  # rank 0 must close, not adopt
    except ConnectionResetError:
        rest = b""
    except socket.timeout:
        rest = None
    print("closed" if rest == b"" else "open")


def main(kolorun, program, probe, hold_lib):
    tag = os.environ["CLUSTER_TAG"]
    recorded_hello, recorded_proof = record_job_a(kolorun, probe)
    job_a = recorded_hello[HELLO_FIXED:].decode()
    print(f"job A ({job_a}): recorded a hello of rank "
          f"{struct.unpack('<I', recorded_hello[8:12])[0]} and its proof")

    work = tempfile.mkdtemp(prefix="kolo-cluster-auth.")
    release = os.path.join(work, "release")
    wrapper = os.path.join(work, "rank.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f'if [ "$KOLO_RANK" = 3 ]; then export LD_PRELOAD={hold_lib} '
                f"CLUSTER_HOLD_CONNECT={release} ASAN_OPTIONS=verify_asan_link_order=0; fi\n"
                f'exec {program} "$@"\n')
    os.chmod(wrapper, 0o755)
    job = subprocess.Popen([kolorun, "-H", os.environ["CLUSTER_HOSTS"], "--timeout", "80",
                            "-x", "KOLO_TIMEOUT_SECONDS=60", "-x", "KOLO_TEST_EXPECT_HOSTS=2",
                            wrapper], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        address, port, job_b = rank0_listener(program, job)
        if job_b == job_a:
            fail(f"jobs A and B have the same job id {job_a}")
        forged = hello(job_b, 3, 4)
        cases = {
            "garbage": (b"GET / HTTP/1.1\r\nHost: kolo\r\n\r\n" + os.urandom(64), 0, "-",
                        r"bad magic 0x[0-9a-f]+ \(not a Kolo rank\)"),
            "forged": (forged, HELLO_FIXED + len(job_b) + PROOF, os.urandom(PROOF).hex(),
                       r"claims rank 3 but did not prove the job secret \(KOLO_SECRET\)"),
            "replayed": (recorded_hello + recorded_proof, 0, "-",
                         rf"job id '{re.escape(job_a)}', expected '{re.escape(job_b)}'"),
        }
        sports = {}
        for name, (payload, answer, proof, _) in cases.items():
            sport, verdict = stranger(tag, address, port, payload.hex(), answer, proof)
            if verdict == "open":
                fail(f"{name}: rank 0 kept the stranger's connection open")
            sports[name] = sport
        open(release, "w").close()
        out, _ = job.communicate(timeout=90)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, 9)
            job.wait()
        shutil.rmtree(work, ignore_errors=True)
    if job.returncode != 0:
        fail(f"job B exited {job.returncode} after the strangers:\n{out}")
    for rank in range(4):
        if not re.search(rf"^\[{rank}\]<stdout>:rank {rank} of 4 over tcp: [1-9][0-9]* passed, "
                         r"0 failed", out, re.M):
            fail(f"rank {rank} did not pass every collective:\n{out}")
    for name, (_, _, _, reason) in cases.items():
        line = (rf"^\[0\]<stderr>:.*rank 0: dropped tcp connection from "
                rf"{re.escape(H2)}:{sports[name]}: .*{reason}")
        if not re.search(line, out, re.M):
            fail(f"rank 0 did not log the {name} stranger ({H2}:{sports[name]}, /{reason}/):\n"
                 f"{out}")
        print(f"{name}: dropped by rank 0, logged as from {H2}:{sports[name]}")
    print("\n".join(line for line in out.splitlines() if "passed" in line))
    print(f"PASSED cluster.hosts2x2.auth (job B {job_b} on {address}:{port})")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--stranger":
        stranger_main(*sys.argv[2:])
    elif len(sys.argv) == 5:
        main(*sys.argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
