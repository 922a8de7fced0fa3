"""The case driver of the multi-process test scripts (launcher/kolorun_test.py,
launcher/security_test.py, topology/binding_test.py).

A script holds its cases as functions `case_<name>` and ctest runs one case per entry. A case
fails by raising CaseFailed (check() does), with a message that says what went wrong; anything
else it raises is a crash of the script and shows as such.

The scripts are run by path (`python3 tests/mp/<area>/<script>.py ...`), so each puts this
folder on sys.path before importing this module.
"""
import socket
import sys


class CaseFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseFailed(message)


def run_case(cases, name):
    """Runs cases["case_" + name] (a script's globals()); returns the exit code for ctest."""
    case = cases.get("case_" + name)
    if case is None:
        print(f"unknown case {name!r}", file=sys.stderr)
        return 2
    try:
        case()
    except CaseFailed as e:
        print(f"FAILED {name}: {e}", file=sys.stderr)
        return 1
    print(f"PASSED {name}")
    return 0


def pid_alive(pid):
    """Whether process `pid` exists and has not exited (a zombie counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_closed(port):
    """Whether nothing accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as s:
        s.settimeout(5)
        return s.connect_ex(("127.0.0.1", port)) != 0
