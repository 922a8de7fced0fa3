"""kolo.h's enum values against the Python adapter's copies of them.

The adapter passes dtypes, reduce ops and status codes through ctypes as plain ints, so a value
added or renumbered in the C header without the Python side (or the other way round) would
silently reduce the wrong type. The C++ enums are held to kolo.h at build time
(adapters/c/src/abi_enum_checks.cc); this holds the Python constants to it.
"""

import pathlib
import re
import types

import pytest

import kolo
from kolo import _lib, errors

KOLO_H = pathlib.Path(__file__).resolve().parents[3] / "adapters" / "c" / "include" / "kolo.h"

# The enums the Python adapter mirrors; a new enum in kolo.h must be added here and to _lib.py.
MIRRORED = ("kolo_status_t", "kolo_dtype_t", "kolo_reduce_op_t")


def parse_enums(text):
    """{enum type name: {enumerator: value}} for every `typedef enum` in a C header."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    enums = {}
    for match in re.finditer(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}\s*\w+\s*;", text, re.S):
        values = {}
        next_value = 0
        for item in match.group(2).split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            next_value = int(value.strip(), 0) if value.strip() else next_value
            values[name.strip()] = next_value
            next_value += 1
        enums[match.group(1)] = values
    return enums


def mismatches(c_values, module):
    """Every enumerator whose Python constant (KOLO_X -> module.X) is missing or differs."""
    problems = []
    for c_name, value in c_values.items():
        py_name = c_name[len("KOLO_"):]
        if not hasattr(module, py_name):
            problems.append("kolo.h %s = %d has no %s.%s" % (c_name, value, module.__name__, py_name))
        elif getattr(module, py_name) != value:
            problems.append("kolo.h %s = %d but %s.%s = %r" %
                            (c_name, value, module.__name__, py_name, getattr(module, py_name)))
    return problems


@pytest.fixture(scope="module")
def enums():
    return parse_enums(KOLO_H.read_text())


def test_the_header_declares_every_mirrored_enum(enums):
    assert set(MIRRORED) <= set(enums), "kolo.h lacks %s" % sorted(set(MIRRORED) - set(enums))
    assert enums["kolo_dtype_t"]["KOLO_FLOAT32"] == 2  # the parser reads values, not positions


@pytest.mark.parametrize("enum", MIRRORED)
def test_python_constants_equal_the_header(enums, enum):
    problems = mismatches(enums[enum], _lib)
    assert not problems, "\n".join(problems)


def test_public_reduce_ops_are_the_header_values(enums):
    ops = enums["kolo_reduce_op_t"]
    public = {"KOLO_SUM": kolo.Sum, "KOLO_AVERAGE": kolo.Average, "KOLO_MIN": kolo.Min,
              "KOLO_MAX": kolo.Max, "KOLO_PRODUCT": kolo.Product,
              "KOLO_ADASUM": kolo.Adasum}
    assert set(public) == set(ops), "kolo.h reduce ops %s, Python names %s" % (
        sorted(ops), sorted(public))
    wrong = ["%s = %d but kolo's = %r" % (n, ops[n], v) for n, v in public.items() if v != ops[n]]
    assert not wrong, "\n".join(wrong)


def test_every_failure_status_has_an_exception(enums):
    failures = {v for n, v in enums["kolo_status_t"].items() if n != "KOLO_OK"}
    assert set(errors._BY_STATUS) == failures, (
        "errors._BY_STATUS covers %s, kolo.h's failure codes are %s" %
        (sorted(errors._BY_STATUS), sorted(failures)))


def test_a_mismatch_is_reported_by_name():
    header = """typedef enum kolo_x_t {
      KOLO_A = 0, /* first */
      KOLO_B,
      KOLO_C = 7
    } kolo_x_t;"""
    values = parse_enums(header)["kolo_x_t"]
    assert values == {"KOLO_A": 0, "KOLO_B": 1, "KOLO_C": 7}
    fake = types.SimpleNamespace(__name__="fake", A=0, B=2)
    assert mismatches(values, fake) == ["kolo.h KOLO_B = 1 but fake.B = 2",
                                        "kolo.h KOLO_C = 7 has no fake.C"]
