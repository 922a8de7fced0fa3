#!/usr/bin/python3
"""Security checks of a real kolorun job.

Usage: `security_test.py KOLORUN CASE STORE_PROBE BENCH TRANSPORT_PROBE`.

The job secret must never be visible where other users of the machine or log readers can see it
(process command lines, logs at the most verbose level, --dry-run), listeners must bind only the
address the job chose, and strangers, garbage and a wrong secret must fail cleanly and quickly.
See docs/SECURITY.md. Every wait has a deadline, so a hang fails the case instead of blocking ctest.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from case_driver import CaseFailed, check, run_case  # noqa: E402

KOLORUN = PROBE = BENCH = TRANSPORT_PROBE = None
DEADLINE_S = 40


# ---- process tree, secrets and listeners ---------------------------------------------------

def descendants(root_pid):
    """PIDs of root_pid and every process below it (from /proc/*/stat parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # The command name is parenthesised and may hold spaces; the ppid follows it.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def environ_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return {}
    env = {}
    for e in entries:
        name, sep, value = e.partition(b"=")
        if sep:
            env[name.decode(errors="replace")] = value.decode(errors="replace")
    return env


def job_secret(kolorun_pid, deadline_s=15):
    """The KOLO_SECRET a rank of the job received (read from its environment, as root can)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid in descendants(kolorun_pid)[1:]:
            secret = environ_of(pid).get("KOLO_SECRET")
            if secret:
                check(re.fullmatch(r"[0-9a-f]{64}", secret), f"KOLO_SECRET {secret!r}")
                return secret
        time.sleep(0.05)
    raise CaseFailed(f"no rank with KOLO_SECRET appeared within {deadline_s} s")


def secret_forms(secret):
    raw = bytes.fromhex(secret)
    return [secret.encode(), secret.upper().encode(), raw]


def listeners(pids):
    """(local address, port, pid) of every listening TCP socket owned by one of `pids`."""
    out = subprocess.run(["ss", "-ltnpH"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=10, check=True).stdout.decode()
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        address, _, port = local.rpartition(":")
        for pid in map(int, re.findall(r"pid=(\d+)", line)):
            if pid in pids:
                found.append((address.strip("[]"), int(port), pid))
    return found


def wait_for_listeners(proc, count, deadline_s=15):
    """Polls until the job has at least `count` listening sockets; returns them."""
    deadline = time.monotonic() + deadline_s
    seen = []
    while time.monotonic() < deadline:
        check(proc.poll() is None, "kolorun exited before its listeners could be inspected")
        seen = listeners(set(descendants(proc.pid)))
        if len(seen) >= count:
            return seen
        time.sleep(0.05)
    raise CaseFailed(f"expected {count} listeners, saw {seen}")


def start(args, env=None):
    return subprocess.Popen([KOLORUN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)


def finish(proc, timeout=DEADLINE_S):
    """Waits for kolorun; kills its whole session on a timeout. Returns (rc, out, err)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise CaseFailed(f"kolorun did not finish within {timeout} s: stdout={out[-2000:]!r} "
                         f"stderr={err[-2000:]!r}")
    return proc.returncode, out, err


def expect_ok(rc, out, err, what):
    check(rc == 0, f"{what}: exit code {rc}\nstdout={out.decode(errors='replace')[-3000:]}\n"
                   f"stderr={err.decode(errors='replace')[-3000:]}")


def late_last_rank(seconds):
    """Ranks that connect the TCP transport, the last one `seconds` late, so the others wait in
    the TCP bootstrap with their listeners open."""
    return [TRANSPORT_PROBE, str(seconds)]


def bench(*extra):
    return [BENCH, "allreduce", "-b", "8", "-e", "1K", "-n", "3", "-w", "1", *extra]


# ---- cases ---------------------------------------------------------------------------------

def case_secret_not_in_cmdline():
    # Two ranks join the store and wait until the scan is done; meanwhile no command line on the
    # machine, kolorun's and the ranks' included, may hold the secret in any form.
    with tempfile.TemporaryDirectory() as tmp:
        release = os.path.join(tmp, "release")
        proc = start(["-np", "2", PROBE, "hold", str(DEADLINE_S - 10), release])
        try:
            secret = job_secret(proc.pid)
            forms = secret_forms(secret)
            tree = descendants(proc.pid)
            check(len(tree) >= 3, f"job tree {tree}: expected kolorun and two ranks")
            scanned = 0
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                scanned += 1
                for form in forms:
                    check(form not in cmdline,
                          f"/proc/{entry}/cmdline holds the job secret: {cmdline!r}")
            check(scanned > len(tree), f"only {scanned} command lines were readable")
        finally:
            open(release, "w").close()
            rc, out, err = finish(proc)
        expect_ok(rc, out, err, "hold job")


def case_secret_not_in_trace_logs():
    # The most verbose level and a runtime job over TCP (store, bootstrap, negotiation,
    # transport): nothing kolorun or a rank logs shows the secret. Each rank hands the secret to
    # the test through a file (the job is too short to catch it in /proc reliably).
    with tempfile.TemporaryDirectory() as tmp:
        keep = os.path.join(tmp, "secret")
        command = " ".join(bench("--path", "runtime"))
        script = f'printf %s "$KOLO_SECRET" > {keep}.$KOLO_RANK; exec {command}'
        env = dict(os.environ, KOLO_LOG_LEVEL="trace")
        proc = start(["-np", "2", "-x", "KOLO_LOG_LEVEL", "-x", "KOLO_TRANSPORT=tcp", "sh", "-c",
                      script], env=env)
        rc, out, err = finish(proc)
        expect_ok(rc, out, err, "trace job")
        with open(keep + ".0") as f:
            secret = f.read()
        with open(keep + ".1") as f:
            check(f.read() == secret, "the ranks got different secrets")
    check(re.fullmatch(r"[0-9a-f]{64}", secret), f"KOLO_SECRET {secret!r}")
    logs = out + err
    verbose = len(re.findall(rb"KOLO (TRACE|DEBUG|INFO) ", logs))
    check(verbose >= 2, f"KOLO_LOG_LEVEL=trace produced {verbose} verbose lines:\n"
                        f"{logs.decode(errors='replace')[-3000:]}")
    for form in secret_forms(secret):
        check(form not in logs, "the job secret appears in the trace output")


def case_dry_run_hides_secret():
    # A secret given by the user (-x KOLO_SECRET=..., or inherited from kolorun's environment)
    # is redacted as well.
    mine = "ab" * 32
    env = dict(os.environ, KOLO_SECRET="cd" * 32)
    proc = start(["-np", "2", "--dry-run", "-x", f"KOLO_SECRET={mine}", "true"], env=env)
    rc, out, err = finish(proc)
    expect_ok(rc, out, err, "--dry-run")
    text = (out + err).decode()
    check("KOLO_SECRET=<redacted>" in text, f"--dry-run does not show the redaction:\n{text}")
    for secret in (mine, "cd" * 32):
        check(secret not in text, f"--dry-run shows a secret:\n{text}")
    check(not re.search(r"[0-9a-fA-F]{64}", text), f"--dry-run shows 64 hex digits:\n{text}")


def check_bound_to(found, allowed, what):
    for address, port, pid in found:
        check(address in allowed,
              f"{what}: pid {pid} listens on {address}:{port}, expected only {sorted(allowed)}; "
              f"all: {found}")


def case_listeners_single_host():
    # One host: the store and every TCP transport listener are on 127.0.0.1, nothing on a
    # wildcard address. The last rank starts late, so the others sit in their TCP bootstrap with
    # their listeners open while `ss` looks.
    proc = start(["-np", "3", *late_last_rank(6)])
    try:
        found = wait_for_listeners(proc, 3)  # the store, rank 0 and rank 1
        store_ports = {port for _, port, pid in found if pid == proc.pid}
        check(store_ports, f"no store listener in {found}")
        # The store's socket belongs to kolorun alone: a rank (or its children) that inherited
        # it would keep the port open after kolorun is gone and could accept its connections.
        inherited = [l for l in found if l[1] in store_ports and l[2] != proc.pid]
        check(not inherited, f"ranks hold kolorun's store socket: {inherited}")
        check(len({pid for _, _, pid in found}) >= 3, f"listeners of too few processes: {found}")
        check_bound_to(found, {"127.0.0.1"}, "single-host job")
    finally:
        rc, out, err = finish(proc)
    expect_ok(rc, out, err, "single-host tcp job")


def case_listeners_loopback_hosts():
    # Two "hosts", 127.0.0.2 (rank 0) and 127.0.0.1 (ranks 1, 2): each rank's listener binds its
    # own host's address, and the store (every host is local) stays on 127.0.0.1.
    proc = start(["-H", "127.0.0.2:1,127.0.0.1:2", *late_last_rank(6)])
    try:
        found = wait_for_listeners(proc, 2)  # the store and rank 0, which waits for rank 2
        store = [l for l in found if l[2] == proc.pid]
        check(store, f"no store listener in {found}")
        check_bound_to(store, {"127.0.0.1"}, "store")
        by_rank = {}
        for address, port, pid in found:
            if pid != proc.pid:
                rank = int(environ_of(pid).get("KOLO_RANK", "-1"))
                by_rank.setdefault(rank, []).append((address, port, pid))
        check(0 in by_rank, f"no listener of rank 0 in {found}")
        for rank, owned in by_rank.items():
            check_bound_to(owned, {"127.0.0.2" if rank == 0 else "127.0.0.1"}, f"rank {rank}")
    finally:
        rc, out, err = finish(proc)
    expect_ok(rc, out, err, "loopback-hosts job")


def case_garbage_on_transport_port():
    # Strangers on rank 0's TCP transport port during the bootstrap: HTTP text, a fake hello with
    # a wrong job id, a hello with the right job id (read from a rank's environment: it is not a
    # secret) followed by a proof made without the job secret, a silent connection. Each is
    # dropped with a warning that names it, and the job still completes well within its
    # deadline.
    proc = start(["-np", "2", "-x", "KOLO_TCP_HANDSHAKE_TIMEOUT=1", *late_last_rank(6)])
    socks = []
    try:
        found = wait_for_listeners(proc, 2)
        rank0 = [(a, port, pid) for a, port, pid in found
                 if pid != proc.pid and environ_of(pid).get("KOLO_RANK") == "0"]
        check(rank0, f"no listener of rank 0 in {found}")
        address, port, pid = rank0[0]
        job = environ_of(pid)["KOLO_JOB_ID"]

        def hello(job_id):
            # magic "KOLH", version 2, rank 1, size 2, job id length, a 32-byte nonce, the job id
            return (b"KOLH" + struct.pack("<HHIII", 2, 0, 1, 2, len(job_id)) + os.urandom(32) +
                    job_id.encode())
        junk = [b"GET / HTTP/1.1\r\nHost: kolo\r\n\r\n",
                hello("other"),
                hello(job) + os.urandom(32),
                b""]
        for payload in junk:
            s = socket.create_connection((address, port), timeout=5)
            if payload:
                s.sendall(payload)
            socks.append(s)
        started = time.monotonic()
    finally:
        rc, out, err = finish(proc)
        for s in socks:
            s.close()
    expect_ok(rc, out, err, "job with strangers on its transport port")
    check(time.monotonic() - started < 20, "the job took too long after the strangers came")
    text = (out + err).decode(errors="replace")
    dropped = re.findall(r"dropped tcp connection from 127\.0\.0\.1:\d+: (.*)", text)
    check(len(dropped) >= 3, f"{len(dropped)} dropped-connection warnings:\n{text[-3000:]}")
    check(any("bad magic" in d for d in dropped), f"no bad-magic rejection in {dropped}")
    check(any("job id" in d for d in dropped), f"no job-id rejection in {dropped}")
    check(any("did not prove the job secret" in d for d in dropped),
          f"no rejection of the unproven hello in {dropped}")


def case_wrong_secret_fails_fast():
    # A rank holding the wrong secret is refused by the store at its first message: it fails
    # with an error naming KOLO_SECRET within seconds, kolorun stops the job and reports it, and
    # the store logs the refused connection without showing any secret.
    wrong = "00" * 32
    script = (f'if [ "$KOLO_RANK" = 1 ]; then export KOLO_SECRET={wrong}; fi; '
              f'exec "{PROBE}" exchange')
    began = time.monotonic()
    proc = start(["-np", "2", "sh", "-c", script])
    rc, out, err = finish(proc)
    elapsed = time.monotonic() - began
    text = (out + err).decode(errors="replace")
    check(rc != 0, f"a rank with a wrong secret did not fail the job:\n{text}")
    check(elapsed < 15, f"the wrong secret took {elapsed:.1f} s to fail the job")
    check(re.search(r"\[1\]<stderr>:.*refused this client.*KOLO_SECRET", text),
          f"rank 1's error does not name KOLO_SECRET:\n{text}")
    check(re.search(r"kolorun: store: closed connection from 127\.0\.0\.1:\d+: .*authentication",
                    text), f"the store did not log the refusal:\n{text}")
    check(not re.search(rb"[0-9a-fA-F]{64}", out + err), f"a secret appears in the output:\n{text}")
    check(bytes.fromhex(wrong) not in out + err, "the raw wrong secret appears in the output")


def main():
    global KOLORUN, PROBE, BENCH, TRANSPORT_PROBE
    if len(sys.argv) != 6:
        sys.exit(f"usage: {sys.argv[0]} KOLORUN CASE STORE_PROBE BENCH TRANSPORT_PROBE")
    KOLORUN, case_name, PROBE, BENCH, TRANSPORT_PROBE = sys.argv[1:6]
    sys.exit(run_case(globals(), case_name))


if __name__ == "__main__":
    main()
