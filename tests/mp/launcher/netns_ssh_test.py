#!/usr/bin/python3
"""Two network-namespace "hosts" on this machine, each with its own sshd, joined by a bridge:
`kolorun -H A:2,B:2` must reach them through ssh (host-key checking on) and run a 4-rank Kolo
program across them over TCP. Usage: netns_ssh_test.py KOLORUN PROGRAM.

Needs root, iproute2, sshd and ssh-keygen; without them it exits 77, which ctest reports as
skipped, with the reason on stdout. Everything it creates is removed afterwards.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
SUBNET = "10.213.77"


def skip(reason):
    print(f"SKIPPED: {reason}")
    sys.exit(SKIP)


def fail(reason):
    print(f"FAILED netns_ssh: {reason}", file=sys.stderr)
    sys.exit(1)


def sh(*args, check=True):
    result = subprocess.run(list(args), capture_output=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} KOLORUN PROGRAM")
    kolorun, program = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        skip("network namespaces need root")
    for tool in ("ip", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed")
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if sshd is None:
        skip("sshd is not installed (openssh-server)")
    tag = f"{os.getpid() % 100000}"
    bridge = f"kbr{tag}"
    namespaces = [f"kolo-{tag}-a", f"kolo-{tag}-b"]
    addresses = [f"{SUBNET}.2", f"{SUBNET}.3"]
    daemons = []
    created_ns = []
    try:
        probe = sh("ip", "netns", "add", namespaces[0], check=False)
        if probe.returncode != 0:
            skip(f"cannot create a network namespace: {probe.stderr.decode().strip()}")
        created_ns.append(namespaces[0])
        sh("ip", "netns", "add", namespaces[1])
        created_ns.append(namespaces[1])
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")
        for i, (ns, address) in enumerate(zip(namespaces, addresses)):
            outer, inner = f"kv{tag}h{i}", f"kv{tag}n{i}"
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", inner, "netns", ns)
            sh("ip", "link", "set", outer, "master", bridge)
            sh("ip", "link", "set", outer, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", inner)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", inner, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

        with tempfile.TemporaryDirectory() as tmp:
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/hostkey")
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp}/id")
            shutil.copy(f"{tmp}/id.pub", f"{tmp}/authorized_keys")
            os.makedirs("/run/sshd", exist_ok=True)
            for i, (ns, address) in enumerate(zip(namespaces, addresses)):
                config = f"{tmp}/sshd{i}.conf"
                with open(config, "w") as f:
                    f.write(f"ListenAddress {address}\nHostKey {tmp}/hostkey\n"
                            f"PidFile {tmp}/sshd{i}.pid\nAuthorizedKeysFile {tmp}/authorized_keys\n"
                            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                            "KbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n")
                daemons.append(subprocess.Popen(["ip", "netns", "exec", ns, sshd, "-D", "-e",
                                                 "-f", config], stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE))
            host_key = open(f"{tmp}/hostkey.pub").read().split()[:2]
            # kolorun runs `ssh` from PATH; this one adds the test's config (keys, known hosts)
            # and leaves host-key checking on.
            os.makedirs(f"{tmp}/bin")
            with open(f"{tmp}/ssh_config", "w") as f:
                f.write(f"Host *\n  UserKnownHostsFile {tmp}/known_hosts\n"
                        f"  StrictHostKeyChecking yes\n  IdentityFile {tmp}/id\n  User root\n")
            with open(f"{tmp}/bin/ssh", "w") as f:
                f.write(f"#!/bin/sh\nexec {shutil.which('ssh')} -F {tmp}/ssh_config \"$@\"\n")
            os.chmod(f"{tmp}/bin/ssh", 0o755)
            env = dict(os.environ, PATH=f"{tmp}/bin:{os.environ['PATH']}")
            hosts = f"{addresses[0]}:2,{addresses[1]}:2"
            base = [kolorun, "-H", hosts, "--network-interface", bridge]

            # Host keys not yet known: the pre-flight check must refuse both hosts.
            open(f"{tmp}/known_hosts", "w").close()
            deadline = time.monotonic() + 15
            while True:
                result = subprocess.run(base + ["true"], capture_output=True, env=env, timeout=60)
                err = result.stderr.decode(errors="replace")
                if "Connection refused" not in err or time.monotonic() > deadline:
                    break
                time.sleep(0.2)  # sshd still starting
            if result.returncode != 1 or "2 host(s) cannot be reached with ssh" not in err \
                    or "Host key verification failed" not in err:
                fail(f"unknown host keys were not refused: rc {result.returncode}, stderr {err}")

            with open(f"{tmp}/known_hosts", "w") as f:
                for address in addresses:
                    f.write(f"{address} {host_key[0]} {host_key[1]}\n")
            # KOLO_TEST_EXPECT_HOSTS: the world must come up with node (shm) and cross-host (TCP)
            # subgroups, so the sweep also runs the hierarchical allreduce across the namespaces.
            result = subprocess.run(base + ["--timeout", "100", "-x", "KOLO_TIMEOUT_SECONDS=60",
                                            "-x", "KOLO_TEST_EXPECT_HOSTS=2", program],
                                    capture_output=True, env=env, timeout=130)
            out = result.stdout.decode(errors="replace")
            err = result.stderr.decode(errors="replace")
            if result.returncode != 0:
                fail(f"kolorun exited {result.returncode}\nstdout:\n{out}\nstderr:\n{err}")
            for r in range(4):
                if not re.search(rf"^\[{r}\]<stdout>:rank {r}\b.*\bpassed\b", out, re.M):
                    fail(f"rank {r} did not report success:\n{out}\n{err}")
            if "over " in out and ("over shm" in out or "over tcp" not in out):
                fail(f"ranks on different hosts must use TCP:\n{out}")

            # Fail fast across hosts: rank 2 fails; the remote ranks left sleeping must be
            # stopped on their hosts, not just their local ssh clients.
            start = time.monotonic()
            result = subprocess.run(base + ["--kill-grace", "1", "sh", "-c",
                                            'if [ "$KOLO_RANK" = 2 ]; then sleep 1; exit 3; fi; '
                                            'exec sleep 60'],
                                    capture_output=True, env=env, timeout=60)
            err = result.stderr.decode(errors="replace")
            if result.returncode != 3 or "first failure: rank 2 on host" not in err:
                fail(f"remote failure: rc {result.returncode}, stderr {err}")
            if time.monotonic() - start > 20:
                fail("remote fail-fast took more than 20 s")
            deadline = time.monotonic() + 10
            while True:
                left = []
                for ns in namespaces:
                    for pid in sh("ip", "netns", "pids", ns).stdout.decode().split():
                        try:
                            with open(f"/proc/{pid}/cmdline", "rb") as f:
                                if f.read().startswith(b"sleep\0"):
                                    left.append((ns, pid))
                        except OSError:
                            pass
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if left:
                fail(f"remote ranks outlived the job: {left}")
            print("PASSED netns_ssh")
    except RuntimeError as e:
        fail(str(e))
    finally:
        for daemon in daemons:
            daemon.kill()
            daemon.wait(timeout=10)
        for ns in created_ns:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", bridge, check=False)


if __name__ == "__main__":
    main()
