"""Number and table formatting for bench/render_performance.py's Markdown page."""


def fmt_time(us):
    if us is None:
        return "–"
    if us < 10:
        return f"{us:.2f} µs"
    if us < 1000:
        return f"{us:.1f} µs"
    return f"{us / 1000:.2f} ms"


def fmt_bw(gbps):
    return "–" if gbps is None else f"{gbps:.2f} GB/s"


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}"
        n /= 1024
    return f"{n} B"


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
