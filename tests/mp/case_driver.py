"""The case driver of the multi-process test scripts (launcher/kolorun_test.py,
launcher/security_test.py, topology/binding_test.py).

A script holds its cases as functions `case_<name>` and ctest runs one case per entry. A case
fails by raising CaseFailed (check() does), with a message that says what went wrong; anything
else it raises is a crash of the script and shows as such.

The scripts are run by path (`python3 tests/mp/<area>/<script>.py ...`), so each puts this
folder on sys.path before importing this module.
"""
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
