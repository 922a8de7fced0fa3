#!/usr/bin/env python3
"""Every KOLO_* environment variable Kolo reads or sets is declared in the settings table.

Finds the names
  - read by C++ in runtime/ collectives/ launcher/ bench/ adapters/: a string literal or a
    protocol constant (kEnvRank -> KOLO_RANK) passed to an environment or settings reader;
  - read by Python there: os.environ.get / os.environ[...] / os.getenv;
  - read by shell scripts there: ${KOLO_X...};
  - put into the environment of Kolo processes by tests/, .ci/ and examples/ (KOLO_X=..., -x KOLO_X,
    env["KOLO_X"]), since the runtime warns about undeclared KOLO_* variables it finds (a line
  marked "undeclared on purpose" tests that warning);
and fails naming each one missing from runtime/base/src/settings_table.cc. It also fails when
C++ reads a KOLO_* variable with the raw getEnv/envInt/envDouble/envBool instead of the declared
readers of kolo/base/settings.h.

Usage: check_settings.py [REPO_ROOT]
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
TABLE = "runtime/base/src/settings_table.cc"
READ_DIRS = ["runtime", "collectives", "launcher", "bench", "adapters"]
SET_DIRS = ["tests", ".ci", "examples"]
# Files allowed to read KOLO_* through the raw env readers (none: everything uses the settings).
RAW_READ_EXEMPT = set()

NAME = r"KOLO_[A-Z0-9_]+"
CPP_READERS = (r"(?:getEnv|envInt|envDouble|envBool|std::getenv|::getenv|getenv|launcherValue|"
               r"setting[A-Za-z]*)")
CPP_LITERAL_READ = re.compile(CPP_READERS + r"\(\s*\{?\s*\"(" + NAME + r")\"")
CPP_CONSTANT_READ = re.compile(CPP_READERS + r"\(\s*(?:protocol::|p::)?(kEnv[A-Za-z]+)\b")
RAW_LITERAL_READ = re.compile(r"\b(?:getEnv|envInt|envDouble|envBool)\(\s*\{?\s*\"(" + NAME + r")\"")
RAW_CONSTANT_READ = re.compile(r"\b(?:getEnv|envInt|envDouble|envBool)\(\s*(?:protocol::|p::)?kEnv")
CONSTANT = re.compile(r"constexpr\s+const\s+char\s*\*\s*(kEnv[A-Za-z]+)\s*=\s*\"(" + NAME + r")\"")
PY_READ = re.compile(r"(?:os\.environ\.get|os\.getenv|environ\.get)\(\s*[\"'](" + NAME + r")[\"']"
                     r"|os\.environ\[\s*[\"'](" + NAME + r")[\"']\s*\]")
SH_READ = re.compile(r"\$\{?(" + NAME + r")")
SET = re.compile(r"(?<![A-Za-z0-9_])-x[\"', ]+(" + NAME + r")"
                 r"|(?<![A-Za-z0-9_-])(" + NAME + r")=(?!ON\b|OFF\b)"
                 r"|\[\s*[\"'](" + NAME + r")[\"']\s*\]\s*=(?!=)"
                 r"|(?<![A-Za-z0-9_])(" + NAME + r")\s*:-")
CPP_EXT = (".cc", ".h", ".hpp", ".cpp", ".c")
SCRIPT_EXT = (".sh", ".py", ".txt", ".cmake")


def files(top, exts):
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
        dirnames[:] = [d for d in dirnames if d not in ("build", "__pycache__", ".git")]
        for f in filenames:
            path = os.path.join(dirpath, f)
            # Scripts without an extension (.ci/run, .ci/quickstart) count as shell.
            if f.endswith(exts) or ("." not in f and top == ".ci"):
                yield path


def read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def rel(path):
    return os.path.relpath(path, ROOT)


def declared_names():
    text = read(os.path.join(ROOT, TABLE))
    names = set(re.findall(r"\.name\s*=\s*\"(" + NAME + r")\"", text))
    if len(names) < 30:
        sys.exit(f"check_settings: only {len(names)} declarations parsed from {TABLE}")
    return names


def protocol_constants():
    constants = {}
    for top in ("runtime/include", "launcher/include"):
        for path in files(top, (".h",)):
            for constant, name in CONSTANT.findall(read(path)):
                constants[constant] = name
    return constants


def names_read(constants, raw_reads):
    found = {}  # name -> first place it is read or set
    for top in READ_DIRS:
        for path in files(top, CPP_EXT + (".py", ".sh")):
            text = read(path)
            hits = []
            if path.endswith(CPP_EXT):
                hits += CPP_LITERAL_READ.findall(text)
                hits += [constants[c] for c in CPP_CONSTANT_READ.findall(text) if c in constants]
                if rel(path) not in RAW_READ_EXEMPT and (RAW_LITERAL_READ.search(text) or
                                                         RAW_CONSTANT_READ.search(text)):
                    raw_reads.append(rel(path))
            elif path.endswith(".py"):
                hits += [a or b for a, b in PY_READ.findall(text)]
            else:
                hits += SH_READ.findall(text)
            for name in hits:
                found.setdefault(name, rel(path))
        # Every name a protocol header defines is exported by kolorun or read by the runtime.
    for constant, name in constants.items():
        found.setdefault(name, f"protocol constant {constant}")
    return found


def names_set():
    found = {}
    for top in SET_DIRS:
        for path in files(top, SCRIPT_EXT):
            if rel(path).startswith("tests/lint/"):
                continue  # this script's own examples
            for line in read(path).splitlines():
                if "target_compile_definitions" in line or "-DKOLO_" in line:
                    continue  # CMake options and compile definitions, not the environment
                if "undeclared on purpose" in line:
                    continue  # a test of the warning about undeclared variables
                for groups in SET.findall(line):
                    name = next(g for g in groups if g)
                    found.setdefault(name, rel(path))
    return found


def main():
    declared = declared_names()
    constants = protocol_constants()
    raw_reads = []
    read_names = names_read(constants, raw_reads)
    set_names = names_set()
    failures = []
    for name, where in sorted(read_names.items()):
        if name not in declared:
            failures.append(f"{name} is read ({where}) but not declared in {TABLE}")
    for name, where in sorted(set_names.items()):
        if name not in declared:
            failures.append(f"{name} is set for Kolo processes ({where}) but not declared in "
                            f"{TABLE}; the runtime would warn that it is not a setting")
    for path in sorted(set(raw_reads)):
        failures.append(f"{path} reads a KOLO_* variable with getEnv/envInt/envDouble/envBool; "
                        f"use the declared readers of kolo/base/settings.h")
    if len(read_names) < 30:
        failures.append(f"only {len(read_names)} KOLO_* reads found: the scan is broken")
    for failure in failures:
        print("settings lint: " + failure)
    if not failures:
        print(f"settings OK: {len(read_names)} names read and {len(set_names)} set by tests, "
              f"all among {len(declared)} declarations")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
