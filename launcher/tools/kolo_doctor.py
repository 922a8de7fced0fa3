#!/usr/bin/python3
"""kolo-doctor DIR: one verdict from every rank's flight-recorder dump, after the fact.

Each rank writes DIR/kolo-flight.rank<R>.pid<P>.txt when a process set fails or on SIGUSR1
(docs/RELIABILITY.md, "Flight recorder"). This merges them: per process set, the first op whose
name differs between ranks (the ranks on each side and what each submitted), the op each rank
is stuck in (negotiating: which ranks are missing; running), ranks with no dump, and the failed
ops with their errors; then each rank's state (the op it waits in, ops in flight, its last
completion, and the native stack of each of its threads blocked in Kolo: a caller in a wait,
a coordinator in a cycle) and, for every rank the others wait for, whether it answered (alive:
its Python stacks, written by faulthandler into the same dump, show where it is) or not (gone
or frozen).
kolorun runs it live (`kolorun --status`, SIGUSR1 to kolorun, a stall). Only the standard
library; reads nothing but DIR.

Ranks submit ops in the same order within a process set (Kolo's contract, as Horovod's), so the
n-th op of a set is the same on every rank until the job diverges. The rings hold the last
KOLO_FLIGHT_RECORDER_SIZE ops, so the windows are aligned on an op every rank still holds.
"""
import argparse
import glob
import os
import re
import sys
from collections import OrderedDict

FILE_RE = re.compile(r"kolo-flight\.rank(\d+)\.pid(\d+)\.txt$")
STACKS_HEADER = "# python stacks"
NATIVE_HEADER = "# native stacks"
HEADER_RE = re.compile(r"^# Kolo flight recorder: rank (\d+) pid (\d+), (.*) \(last \d+ ops")


class Entry:
    def __init__(self, fields):
        self.id = int(fields[0])
        self.set = int(fields[1])
        self.state = fields[2]
        self.seconds = float(fields[3])
        self.op = fields[4]
        self.bytes = int(fields[5])
        self.name = fields[6]
        self.arrived = fields[7]
        self.error = fields[8] if len(fields) > 8 else "-"

    def describe(self):
        text = f"'{self.name}' ({self.op}, {self.bytes} B) {self.state} for {self.seconds:.1f} s"
        if self.state == "negotiating":
            text += f", submitted by {self.arrived}"
        if self.error != "-":
            text += f": {self.error}"
        return text


def read_dump(path):
    """(rank, pid, why, [Entry], Python stacks text, native stacks) of one dump; the newest
    dump of a rank wins (caller). The sections follow the entries: native stacks, then Python
    stacks (which run to the end)."""
    rank = pid = None
    why = "?"
    entries = []
    stacks = []
    native = []
    section = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if section == "python" or line.startswith(STACKS_HEADER):
                section = "python"
                stacks.append(line)
                continue
            if line.startswith(NATIVE_HEADER):
                section = "native"
            if section == "native":
                native.append(line)
                continue
            match = HEADER_RE.match(line)
            if match:
                rank, pid, why = int(match.group(1)), int(match.group(2)), match.group(3)
                continue
            if not line or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) >= 8:
                entries.append(Entry(fields))
    if rank is None:
        match = FILE_RE.search(path)
        rank, pid = int(match.group(1)), int(match.group(2))
    entries.sort(key=lambda e: e.id)
    return rank, pid, why, entries, "\n".join(stacks[1:]), parse_native(native)


NATIVE_THREAD_RE = re.compile(r"^thread (\d+) \((.*?)\): (.*)$")
NATIVE_FRAME_RE = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+ (.*?)(?: \((\S+:\d+)\))? \[([^\]]*)\]"
                             r"( \(inlined\))?$")
NATIVE_LINES = 15  # frame lines shown per thread
NATIVE_ENTRY_LINES = 6  # of them, the outermost Kolo lines of a long stack (its way in)


def parse_native(lines):
    """The "# native stacks" section: {"note": why none was taken or None, "threads":
    [{"title": "thread 42 (python3): caller waiting for 'x', blocked 1.0 s", "frames":
    [(function, file:line or None, module)]}]}."""
    native = {"note": None, "threads": []}
    for line in lines:
        if line.startswith("# not taken: "):
            native["note"] = line[len("# not taken: "):]
            continue
        thread = NATIVE_THREAD_RE.match(line)
        if thread:
            native["threads"].append({"title": line, "frames": []})
            continue
        frame = NATIVE_FRAME_RE.match(line)
        if frame and native["threads"]:
            native["threads"][-1]["frames"].append((frame.group(2), frame.group(3),
                                                    frame.group(4)))
    return native


KOLO_SOURCE_RE = re.compile(r"(?:^|/)((?:runtime|collectives|adapters|launcher|bench|tests)/.*)$")


def frame_kind(function, location, module):
    """'kolo' (Kolo's own code), 'std' (standard-library code inlined into Kolo's) or 'other'
    (another module: libc, libffi, Python, the program)."""
    library_source = bool(location) and ("/usr/include/" in location or "/c++/" in location)
    kolo = (module.startswith("libkolo") or function.startswith(("kolo::", "kolo_")) or
            bool(location and KOLO_SOURCE_RE.search(location.rpartition(":")[0])))
    if kolo:
        return "std" if library_source or function.startswith(("std::", "void std::")) else "kolo"
    return "other"


def short_function(function):
    """A C++ name without its (long) parameter list, at most 100 characters."""
    open_at = function.find("(")
    if open_at > 0 and len(function) > 70:
        close_at = function.rfind(")")
        function = function[:open_at] + "(...)" + function[close_at + 1:]
    return function if len(function) <= 100 else function[:97] + "..."


def short_file(location):
    """file:line, the file from Kolo's source root on (else its last two components)."""
    if not location:
        return ""
    path, _, line = location.rpartition(":")
    match = KOLO_SOURCE_RE.search(path)
    return "  " + (match.group(1) if match else "/".join(path.split("/")[-2:])) + ":" + line


def compress_frames(frames):
    """The lines shown for one stack, innermost first: Kolo's frames one by one (standard
    library code inlined into them counted, not shown), another module's run as its first
    frame and a count. A long stack shows its innermost lines (where it waits) and its
    outermost Kolo lines (how the program entered Kolo), at most NATIVE_LINES in all."""
    shown, i = [], 0
    while i < len(frames):
        function, location, module = frames[i]
        kind = frame_kind(function, location, module)
        j = i + 1
        if kind == "std":
            while j < len(frames) and frame_kind(*frames[j]) == "std":
                j += 1
            shown.append((kind, f"({j - i} standard-library frame(s) inlined here)"))
        elif kind == "kolo":
            shown.append((kind, short_function(function) + short_file(location)))
        else:
            while (j < len(frames) and frames[j][2] == module and
                   frame_kind(*frames[j]) == "other"):
                j += 1
            shown.append((kind, f"{short_function(function)}{short_file(location)} [{module}]"))
            if j - i > 1:
                shown.append((kind, f"... {j - i - 1} more frame(s) in {module}"))
        i = j
    if len(shown) <= NATIVE_LINES:
        return [text for _, text in shown]
    kolo_at = [k for k, (kind, _) in enumerate(shown) if kind == "kolo"]
    entry = kolo_at[-NATIVE_ENTRY_LINES:] if kolo_at else []
    entry = [k for k in entry if k >= NATIVE_LINES - NATIVE_ENTRY_LINES]
    head = NATIVE_LINES - len(entry)
    skipped = (entry[0] if entry else len(shown)) - head
    lines = [text for _, text in shown[:head]]
    if skipped > 0:
        lines.append(f"... {skipped} more line(s): the dump holds every frame")
    lines += [shown[k][1] for k in range(entry[0], entry[-1] + 1)] if entry else []
    after = len(shown) - (entry[-1] + 1 if entry else len(shown))
    if after > 0:
        lines.append(f"... {after} more line(s) outside Kolo")
    return lines


def merged_threads(threads):
    """One entry per thread: a caller that drives its process set's cycles is registered as
    the caller and as the coordinator; it is shown once, as the caller, saying it drives."""
    by_tid, order = {}, []
    for thread in threads:
        match = NATIVE_THREAD_RE.match(thread["title"])
        tid = match.group(1) if match else id(thread)
        if tid not in by_tid:
            by_tid[tid] = dict(thread, roles=[match.group(3) if match else ""])
            order.append(tid)
        else:
            by_tid[tid]["roles"].append(match.group(3) if match else "")
    merged = []
    for tid in order:
        thread = by_tid[tid]
        roles = thread["roles"]
        caller = next((r for r in roles if r.startswith("caller waiting")), None)
        drives = [re.match(r"coordinator of (process set \d+)", r) for r in roles]
        drives = [m.group(1) for m in drives if m]
        if caller and drives:
            what, _, blocked = caller.rpartition(", blocked ")
            title = (thread["title"].split(": ", 1)[0] + ": " + what +
                     f" (driving the cycles of {', '.join(drives)}), blocked " + blocked)
            thread = dict(thread, title=title)
        merged.append(thread)
    return merged


def native_lines(native, indent="    "):
    """The verdict's lines for one rank's native stacks (none when no thread was blocked)."""
    out = []
    if native["note"]:
        out.append(f"{indent}native stacks not taken: {native['note']}")
    for thread in merged_threads(native["threads"]):
        out.append(f"{indent}native stack of {thread['title']}"
                   + (":" if thread["frames"] else ""))
        out.extend(f"{indent}  {line}" for line in compress_frames(thread["frames"]))
    return out


def load(directory, since=None):
    """The newest dump of each rank, ignoring those written before `since` (epoch seconds)."""
    dumps = {}
    for path in glob.glob(os.path.join(directory, "kolo-flight.rank*.pid*.txt")):
        if not FILE_RE.search(path):
            continue
        mtime = os.path.getmtime(path)
        if since is not None and mtime < since:
            continue
        rank, pid, why, entries, stacks, native = read_dump(path)
        if rank not in dumps or mtime > dumps[rank]["mtime"]:
            dumps[rank] = {"pid": pid, "why": why, "entries": entries, "mtime": mtime,
                           "stacks": stacks, "native": native}
    return dict(sorted(dumps.items()))


def ranks_text(ranks):
    ranks = sorted(ranks)
    return ("rank " if len(ranks) == 1 else "ranks ") + ",".join(str(r) for r in ranks)


def align(sequences):
    """Start index per rank so that every window begins at the same op, or None.

    Entry ids count a process's ops in submission order, so they agree across ranks that
    submit the same ops (the usual job: one process set, one submitting thread); failing that,
    the windows are aligned on the first op of the window that starts last, found by name
    (from the end, since a training loop repeats its names every step)."""
    live = {r: seq for r, seq in sequences.items() if seq}
    if not live:
        return None
    first_id = max(seq[0].id for seq in live.values())
    starts = {}
    for rank, seq in sequences.items():
        index = next((i for i, e in enumerate(seq) if e.id == first_id), None)
        if index is None:
            break
        starts[rank] = index
    else:
        names = {sequences[r][i].name for r, i in starts.items()}
        if len(names) == 1:
            return starts
    latest = max(live, key=lambda r: live[r][0].id)
    anchor = live[latest][0].name
    starts = {}
    for rank, seq in sequences.items():
        names = [e.name for e in seq]
        if anchor not in names:
            return None
        starts[rank] = len(names) - 1 - names[::-1].index(anchor)
    starts[latest] = 0
    return starts


def diverge(sequences, starts):
    """(position, {key: [ranks]}, {rank: Entry or None}) of the first differing op, or None."""
    longest = max(len(seq) - starts[r] for r, seq in sequences.items())
    for i in range(longest):
        at = {r: (seq[starts[r] + i] if starts[r] + i < len(seq) else None)
              for r, seq in sequences.items()}
        groups = OrderedDict()
        for r, entry in sorted(at.items()):
            key = entry.name if entry else None
            groups.setdefault(key, []).append(r)
        # Ranks that have not reached this op yet are behind, not diverged: what keeps them
        # is in the ranks section. Two different names at one position is a divergence.
        if len([key for key in groups if key is not None]) > 1:
            return i, groups, at
    return None


def set_verdict(set_id, sequences, out):
    out.append(f"process set {set_id}:")
    starts = align(sequences)
    if starts is None:
        out.append("  no op is held by every rank's recorder window: raise "
                   "KOLO_FLIGHT_RECORDER_SIZE and dump again")
        return
    found = diverge(sequences, starts)
    if found:
        position, groups, at = found
        anchor = next(iter(sequences.values()))
        anchor_rank = next(iter(sequences))
        before = anchor[starts[anchor_rank] + position - 1].name if position > 0 else None
        where = f"after '{before}'" if before else "at the first recorded op"
        out.append(f"  DIVERGED {where}: the ranks submitted different ops")
        for key, ranks in groups.items():
            if key is None:
                out.append(f"    {ranks_text(ranks)}: nothing yet (still before this op, or "
                           f"blocked outside Kolo)")
            else:
                out.append(f"    {ranks_text(ranks)}: {at[ranks[0]].describe()}")
    else:
        out.append("  every rank submitted the same ops (so far)")
    for rank, seq in sequences.items():
        pending = [e for e in seq if e.state in ("negotiating", "running")]
        if pending:
            out.append(f"  rank {rank} waits in {pending[0].describe()}")


MISSING_RE = re.compile(r"\(missing ([\d,]+)\)")
THREAD_RE = re.compile(r"^(Current thread|Thread) 0x[0-9a-f]+")
FRAMES_SHOWN = 10


def rank_status(entries):
    """What one rank is doing: the op it waits in, how many are in flight, its last
    completion (a done entry's age is the time since it completed)."""
    in_flight = [e for e in entries if e.state in ("negotiating", "running")]
    done = [e for e in entries if e.state == "done"]
    parts = [f"in {in_flight[0].describe()}; {len(in_flight)} op(s) in flight" if in_flight
             else "no op in flight"]
    if done:
        last = max(done, key=lambda e: e.id)
        parts.append(f"last completed '{last.name}' {last.seconds:.1f} s ago")
    else:
        parts.append("nothing completed in the recorder's window")
    return "; ".join(parts)


def waited_for(dumps):
    """{rank: [(waiting rank, Entry)]}: the ranks others wait for in a negotiation."""
    found = {}
    for rank, dump in dumps.items():
        for e in dump["entries"]:
            match = MISSING_RE.search(e.arrived) if e.state == "negotiating" else None
            for missing in (match.group(1).split(",") if match else []):
                found.setdefault(int(missing), []).append((rank, e))
    return dict(sorted(found.items()))


def python_stacks(text):
    """faulthandler's dump, trimmed: threads with frames outside Kolo and the standard
    library's threading module, at most FRAMES_SHOWN frames each."""
    blocks, current = [], None
    for line in text.splitlines():
        if THREAD_RE.match(line):
            current = [line]
            blocks.append(current)
        elif current is not None and line.strip().startswith("File "):
            current.append(line.strip())
    shown = []
    for block in blocks:
        frames = [f for f in block[1:]
                  if "/kolo/" not in f and not f.startswith('File "/usr/lib/python3')]
        if not frames:
            continue
        shown.append("    " + block[0])
        shown += ["      " + f for f in block[1:1 + FRAMES_SHOWN]]
    return shown


def blame(dumps, out):
    for rank, waits in waited_for(dumps).items():
        names = ", ".join(sorted({f"'{e.name}'" for _, e in waits}))
        waiters = {r for r, _ in waits}
        waiting = ranks_text(waiters) + (" waits" if len(waiters) == 1 else " wait")
        if rank not in dumps:
            out.append(f"rank {rank}, which {waiting} for in {names}, left no fresh dump: "
                       f"it is gone, or frozen (stopped, or blocking signals)")
            continue
        out.append(f"rank {rank} is alive but has not submitted {names}, which {waiting} "
                   f"for: it is elsewhere in its program (slow, or on another code path)")
        stacks = python_stacks(dumps[rank]["stacks"])
        if stacks:
            out.append("  its Python stacks (most recent call first):")
            out.extend(stacks)
        else:
            out.append("  no Python stacks in its dump (not a Python process, or the program "
                       "owns SIGUSR1)")
        native = dumps[rank]["native"]
        if native["threads"] or native["note"]:
            out.extend(native_lines(native, "  "))
        else:
            out.append("  none of its threads is blocked in Kolo (its native stacks)")


def rank_lines(dumps, expected_size, out):
    ranks = sorted(set(dumps) | set(range(expected_size or 0)))
    out.append("ranks:")
    for rank in ranks:
        if rank in dumps:
            out.append(f"  rank {rank} (pid {dumps[rank]['pid']}): "
                       f"{rank_status(dumps[rank]['entries'])}")
            out.extend(native_lines(dumps[rank]["native"]))
        else:
            out.append(f"  rank {rank}: no dump")


def verdict(directory, expected_size=None, since=None):
    dumps = load(directory, since)
    if not dumps:
        return [f"kolo-doctor: no kolo-flight.rank*.pid*.txt in {directory}"], 2
    out = [f"kolo-doctor: {len(dumps)} dump(s) in {directory}"]
    for rank, dump in dumps.items():
        out.append(f"  rank {rank} (pid {dump['pid']}): {dump['why']}")
    if expected_size:
        missing = sorted(set(range(expected_size)) - set(dumps))
        if missing:
            out.append(f"  no dump from {ranks_text(missing)}: gone before it could write one, "
                       f"or never started")
    sets = sorted({e.set for d in dumps.values() for e in d["entries"]})
    for set_id in sets:
        sequences = {r: [e for e in d["entries"] if e.set == set_id] for r, d in dumps.items()}
        set_verdict(set_id, sequences, out)
    rank_lines(dumps, expected_size, out)
    blame(dumps, out)
    failed = [(r, e) for r, d in dumps.items() for e in d["entries"] if e.state == "failed"]
    if failed:
        rank, entry = min(failed, key=lambda f: (f[1].seconds * -1, f[0]))
        out.append(f"first failure recorded: rank {rank}: {entry.describe()}")
    return out, 0


def main():
    parser = argparse.ArgumentParser(
        prog="kolo-doctor",
        description="Merge every rank's Kolo flight-recorder dump into one verdict.")
    parser.add_argument("directory", help="KOLO_FLIGHT_RECORDER_DIR of the job")
    parser.add_argument("-n", "--size", type=int, help="the job's rank count (names ranks "
                        "that left no dump)")
    parser.add_argument("--since", type=float, help="ignore dumps written before this time "
                        "(seconds since the epoch): a live verdict wants fresh ones only")
    args = parser.parse_args()
    lines, code = verdict(args.directory, args.size, args.since)
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    sys.exit(main())
