"""A strict reader of Prometheus text exposition (format 0.0.4), as the live-metrics tests need:
parse() checks the format and returns the samples; value() finds one."""

import math
import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
_SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)\})? (\S+)$" % (_NAME, _LABEL, _LABEL))
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


def _fail(lineno, line, why):
    raise FormatError("line %d: %s: %r" % (lineno, why, line))


def parse(text):
    """Returns {family: {"type", "help", "samples": [(name, labels dict, value)]}}.

    Raises FormatError unless: every family has one # HELP and one # TYPE line before its
    samples, a family appears in one block, every sample line has valid name, label and value
    syntax and belongs to the family above it (histograms: _bucket/_sum/_count), and every
    histogram series has monotone cumulative buckets ending in le="+Inf" equal to its _count."""
    families = {}
    current = None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(_NAME, parts[2]):
                _fail(lineno, line, "malformed header")
            kind, name, rest = parts[1], parts[2], parts[3]
            if current is None or current[0] != name:
                if name in families:
                    _fail(lineno, line, "family %s appears in two blocks" % name)
                families[name] = {"type": None, "help": None, "samples": []}
                current = (name, families[name])
            fam = current[1]
            if fam["samples"]:
                _fail(lineno, line, "header after samples")
            key = "help" if kind == "HELP" else "type"
            if fam[key] is not None:
                _fail(lineno, line, "second %s line" % kind)
            if key == "type" and rest not in _TYPES:
                _fail(lineno, line, "unknown type")
            fam[key] = rest
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            _fail(lineno, line, "malformed sample")
        if current is None or current[1]["type"] is None or current[1]["help"] is None:
            _fail(lineno, line, "sample before its family's HELP and TYPE")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family, fam = current
        allowed = {family}
        if fam["type"] == "histogram":
            allowed = {family + "_bucket", family + "_sum", family + "_count"}
        if name not in allowed:
            _fail(lineno, line, "sample of another family than %s" % family)
        try:
            number = float(value)
        except ValueError:
            _fail(lineno, line, "value is not a number")
        fam["samples"].append((name, dict(_LABEL_PAIR.findall(labels)), number))
    for name, fam in families.items():
        if fam["type"] is None or fam["help"] is None:
            raise FormatError("family %s lacks HELP or TYPE" % name)
        if fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return families


def _series_key(labels):
    return tuple(sorted((k, v) for k, v in labels.items() if k != "le"))


def _check_histogram(name, samples):
    buckets, counts, sums = {}, {}, {}
    for sample, labels, value in samples:
        key = _series_key(labels)
        if sample.endswith("_bucket"):
            if "le" not in labels:
                raise FormatError("%s bucket without le: %r" % (name, labels))
            buckets.setdefault(key, []).append((labels["le"], value))
        elif sample.endswith("_count"):
            counts[key] = value
        else:
            sums[key] = value
    if set(buckets) != set(counts) or set(counts) != set(sums):
        raise FormatError("%s: series without all of _bucket, _sum and _count" % name)
    for key, series in buckets.items():
        if series[-1][0] != "+Inf":
            raise FormatError("%s%r: last bucket is le=%s, not +Inf" % (name, key, series[-1][0]))
        bounds = [float(le) for le, _ in series]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise FormatError("%s%r: le bounds not increasing: %r" % (name, key, bounds))
        values = [v for _, v in series]
        if any(b < a for a, b in zip(values, values[1:])):
            raise FormatError("%s%r: buckets not monotone: %r" % (name, key, values))
        if values[-1] != counts[key]:
            raise FormatError("%s%r: +Inf bucket %s != _count %s" % (name, key, values[-1],
                                                                     counts[key]))
        if math.isnan(sums[key]) or sums[key] < 0:
            raise FormatError("%s%r: bad _sum %s" % (name, key, sums[key]))


def value(families, sample, **labels):
    """The value of the one sample named `sample` whose labels include `labels`, else None."""
    family = sample
    for suffix in ("_bucket", "_sum", "_count"):
        if sample.endswith(suffix) and sample[: -len(suffix)] in families:
            family = sample[: -len(suffix)]
    found = [v for name, lab, v in families.get(family, {"samples": []})["samples"]
             if name == sample and all(lab.get(k) == str(v2) for k, v2 in labels.items())]
    if len(found) > 1:
        raise AssertionError("%d samples of %s match %r" % (len(found), sample, labels))
    return found[0] if found else None
