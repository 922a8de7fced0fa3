"""kolo.h's structs against the Python adapter's ctypes mirrors of them.

ctypes lays a Structure out from its _fields_ alone, so a field added, removed, reordered or
retyped in kolo.h without _lib.py (or the other way round) would make the adapter write one
field where the library reads another. _lib._check_layouts refuses a library whose struct
sizes differ at import; this holds every field's name, order and type to the header, and the
Python-side TensorRef to kolo_tensor_t's field names.
"""

import ctypes
import pathlib
import re

import pytest

from kolo import _lib, _runtime

KOLO_H = pathlib.Path(__file__).resolve().parents[3] / "adapters" / "c" / "include" / "kolo.h"

# The structs the Python adapter mirrors; a new struct in kolo.h's API must be added here and
# to _lib.py.
MIRRORED = {
    "kolo_config_t": _lib.Config,
    "kolo_tensor_t": _lib.TensorDesc,
    "kolo_op_options_t": _lib.OpOptions,
    "kolo_build_info_t": _lib.BuildInfo,
}

_SCALARS = {
    "size_t": ctypes.c_size_t,
    "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64,
    "double": ctypes.c_double,
    "int": ctypes.c_int,
}


def parse_structs(text):
    """{struct type name: [(field, C type)]} for every `typedef struct NAME {...} NAME;` in a
    C header, fields in declaration order, types with spaces normalised (`const void*`)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    structs = {}
    for match in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\w+\s*;", text, re.S):
        fields = []
        for decl in match.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            found = re.fullmatch(r"(.*?)\s*(\w+)", decl)
            c_type = re.sub(r"\s*\*", "*", found.group(1))
            fields.append((found.group(2), c_type))
        structs[match.group(1)] = fields
    return structs


def ctype_of(c_type, enum_names):
    """The ctypes type that mirrors a C field type: enums are ints, `const char*` a C string,
    `[const] void*` an address, other pointers POINTER of their target."""
    base = c_type.replace("const ", "")
    if base in enum_names:
        return ctypes.c_int
    if base == "char*":
        return ctypes.c_char_p
    if base == "void*":
        return ctypes.c_void_p
    if base.endswith("*"):
        return ctypes.POINTER(ctype_of(base[:-1], enum_names))
    return _SCALARS[base]


def mismatches(c_fields, structure, enum_names):
    """Where a ctypes Structure's _fields_ differ from the C struct's: names in order, then
    each field's type."""
    c_names = [name for name, _ in c_fields]
    py_names = [name for name, _ in structure._fields_]
    if c_names != py_names:
        return ["kolo.h fields %s but %s._fields_ %s" % (c_names, structure.__name__, py_names)]
    problems = []
    for (name, c_type), (_, py_type) in zip(c_fields, structure._fields_):
        expected = ctype_of(c_type, enum_names)
        if py_type is not expected:
            problems.append("kolo.h %s %s but %s.%s is %s (expected %s)" % (
                c_type, name, structure.__name__, name, py_type.__name__, expected.__name__))
    return problems


def enum_names(text):
    return set(re.findall(r"typedef\s+enum\s+\w+\s*\{.*?\}\s*(\w+)\s*;", text, re.S))


@pytest.fixture(scope="module")
def header():
    return KOLO_H.read_text()


def test_the_header_declares_every_mirrored_struct(header):
    structs = parse_structs(header)
    assert set(MIRRORED) <= set(structs), "kolo.h lacks %s" % sorted(set(MIRRORED) - set(structs))
    assert structs["kolo_tensor_t"][1] == ("data", "const void*")  # names and types, in order


@pytest.mark.parametrize("struct", sorted(MIRRORED))
def test_ctypes_fields_equal_the_header(header, struct):
    problems = mismatches(parse_structs(header)[struct], MIRRORED[struct], enum_names(header))
    assert not problems, "\n".join(problems)


def test_tensor_ref_uses_the_c_field_names(header):
    c_names = {name for name, _ in parse_structs(header)["kolo_tensor_t"]}
    # `owner` keeps the Python object alive; the rest are kolo_tensor_t's own fields.
    view = set(_runtime.TensorRef.__slots__) - {"owner"}
    assert view <= c_names, "TensorRef fields %s are not kolo_tensor_t's" % sorted(view - c_names)
    assert {"data", "dtype", "shape", "device", "stream"} <= view


def test_a_mismatch_is_reported_by_name():
    header = """typedef enum kolo_e_t { KOLO_A = 0 } kolo_e_t;
    typedef struct kolo_x_t {
      size_t struct_size;
      const int64_t* shape; /* a pointer */
      kolo_e_t kind;
      int32_t count;
    } kolo_x_t;"""
    fields = parse_structs(header)["kolo_x_t"]
    assert fields == [("struct_size", "size_t"), ("shape", "const int64_t*"),
                      ("kind", "kolo_e_t"), ("count", "int32_t")]

    class Swapped(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("kind", ctypes.c_int),
                    ("shape", ctypes.POINTER(ctypes.c_int64)), ("count", ctypes.c_int32)]

    class Retyped(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("shape", ctypes.c_void_p),
                    ("kind", ctypes.c_int), ("count", ctypes.c_int64)]

    enums = enum_names(header)
    assert mismatches(fields, Swapped, enums) == [
        "kolo.h fields ['struct_size', 'shape', 'kind', 'count'] but Swapped._fields_ "
        "['struct_size', 'kind', 'shape', 'count']"]
    # ctypes' own names for the fixed-width types depend on the platform (c_long on LP64).
    int64_p, int64, int32 = ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.c_int32
    assert mismatches(fields, Retyped, enums) == [
        "kolo.h const int64_t* shape but Retyped.shape is c_void_p (expected %s)"
        % int64_p.__name__,
        "kolo.h int32_t count but Retyped.count is %s (expected %s)"
        % (int64.__name__, int32.__name__)]
