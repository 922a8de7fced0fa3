#!/usr/bin/python3
"""Measures one link of the emulated cluster (tests/cluster/run.sh): run on a host, it starts a
receiver on PEER over ssh, sends MEGABYTES to it over one TCP connection and prints the rate the
receiver saw, from its first byte to its last.

    run.sh --hosts 2 --slots 1 --link 2gbit -- /usr/bin/python3 tests/cluster/throughput.py h2

--expect RATE (a tc rate: 400mbit, 2gbit) checks the figure against the link's shaping: it must
lie between --min-fraction (default 0.5) and 1.1 times RATE, else the exit status is 1.
"""
import argparse
import re
import socket
import subprocess
import sys
import time

CHUNK = 1 << 20
UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}


def bytes_per_second(rate):
    """A tc rate (2gbit, 500mbit, 100mbps) in bytes per second."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kmgt]?)(bit|bps)", rate.lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a tc rate: {rate}")
    value = float(match.group(1)) * UNITS[match.group(2)]
    return value / 8 if match.group(3) == "bit" else value


def receive():
    """Receiver: prints its port, then, after the sender closes, the bytes and seconds it saw."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(1)
        print(f"port {listener.getsockname()[1]}", flush=True)
        listener.settimeout(30)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(120)
            total = 0
            first = None
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    break
                if first is None:
                    first = time.monotonic()
                total += len(data)
            elapsed = time.monotonic() - first if first is not None else 0.0
    print(f"received {total} {elapsed:.6f}", flush=True)


def send(peer, megabytes):
    """Sender: starts the receiver on PEER, sends to it, returns (bytes, seconds) it measured."""
    receiver = subprocess.Popen(["ssh", peer, "/usr/bin/python3", __file__, "--receive"],
                                stdout=subprocess.PIPE, text=True)
    try:
        line = receiver.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            sys.exit(f"throughput: no receiver on {peer}")
        payload = bytes(CHUNK)
        with socket.create_connection((peer, int(line[1])), timeout=30) as conn:
            for _ in range(megabytes):
                conn.sendall(payload)
        words = receiver.stdout.readline().split()
        if len(words) != 3 or words[0] != "received":
            sys.exit(f"throughput: the receiver on {peer} reported nothing")
        return int(words[1]), float(words[2])
    finally:
        receiver.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", nargs="?", help="host to send to (h2)")
    parser.add_argument("megabytes", nargs="?", type=int, default=64)
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=bytes_per_second, help="the link's tc rate")
    parser.add_argument("--min-fraction", type=float, default=0.5)
    args = parser.parse_args()
    if args.receive:
        receive()
        return 0
    if args.peer is None:
        parser.error("PEER is required")
    total, seconds = send(args.peer, args.megabytes)
    if total != args.megabytes * CHUNK or seconds <= 0:
        print(f"FAILED: {total} of {args.megabytes * CHUNK} bytes arrived")
        return 1
    rate = total / seconds
    print(f"{socket.gethostname()} -> {args.peer}: {total / 1e6:.1f} MB in {seconds:.3f} s = "
          f"{rate / 1e6:.1f} MB/s ({rate * 8 / 1e9:.2f} Gbit/s)")
    if args.expect is not None:
        low, high = args.min_fraction * args.expect, 1.1 * args.expect
        if not low <= rate <= high:
            print(f"FAILED: expected {low / 1e6:.1f} to {high / 1e6:.1f} MB/s for the link")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
