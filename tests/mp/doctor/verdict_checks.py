"""What the doctor tests share: failing with the output, and asserting a verdict's text."""
import re
import subprocess
import sys


def fail(message, output=""):
    print(f"FAIL: {message}\n{output}")
    sys.exit(1)


def expect(text, needle, what="the verdict"):
    if needle not in text:
        fail(f"{what} lacks {needle!r}", text)


def rank_block(text, rank):
    """The lines under `rank R (pid P): ...` in the verdict's ranks section (its state and
    native stacks), up to the next rank or section."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if re.search(rf"\branks:$", line)), None)
    if start is None:
        fail("the verdict has no ranks section", text)
    block, inside = [], False
    for line in lines[start + 1:]:
        body = re.sub(r"^(kolorun|kolo): ", "", line)
        if re.match(r"  rank \d+", body):
            inside = body.startswith(f"  rank {rank} ")
            if inside:
                block.append(body)
            continue
        if not body.startswith("    "):
            if block:
                break
            continue
        if inside:
            block.append(body)
    if not block:
        fail(f"the verdict's ranks section lacks rank {rank}", text)
    return "\n".join(block)


def expect_caller_stack(text, rank, name, what="the verdict"):
    """Rank `rank`'s native stack shows its caller blocked in Kolo's handle wait for `name`
    since before the stall warning (2 s): the role, the wait's frames, the C ABI's entry."""
    block = rank_block(text, rank)
    match = re.search(rf"native stack of thread \d+ \(\S+\): caller waiting for '{re.escape(name)}'"
                      r"(?: \(driving the cycles of process set \d+\))?, blocked ([\d.]+) s:",
                      block)
    if not match:
        fail(f"{what}: rank {rank} shows no native stack of a caller waiting for {name!r}", text)
    if float(match.group(1)) < 1.0:
        fail(f"{what}: rank {rank}'s wait counts {match.group(1)} s, not from its first slice",
             text)
    for frame in ("kolo::core::OpState::wait(", "runtime/core/src/handle.cc:",
                  "kolo::core::Handle::wait(", "kolo_handle_wait"):
        expect(block, frame, f"{what} (rank {rank}'s native stack)")


def status_while_running(kolorun, job, stop, markers, never_ran):
    """Reads the job's output until every marker (bytes) has appeared, asks `kolorun --status`
    about it, then lets it end by creating `stop`. Returns (the verdict, the job's output);
    fails with `never_ran` if the job ends first, or if --status fails."""
    seen = b""
    while not all(marker in seen for marker in markers):
        line = job.stdout.readline()
        if not line:
            fail(never_ran, seen.decode(errors="replace"))
        seen += line
    asked = subprocess.run([kolorun, "--status", "--pid", str(job.pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
    verdict = asked.stdout.decode(errors="replace")
    open(stop, "w").close()  # the job ends once its ranks see it
    rest, _ = job.communicate(timeout=90)
    out = (seen + rest).decode(errors="replace")
    if asked.returncode != 0:
        fail(f"kolorun --status exited {asked.returncode}", verdict + out)
    return verdict, out
