#!/usr/bin/python3
"""Multi-process checks of kolorun: usage `kolorun_test.py KOLORUN CASE`.

Each case runs kolorun with shell commands as ranks and checks exit codes, prefixed output and
cleanup. Every wait has a deadline, so a hang fails the case instead of blocking ctest.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from case_driver import CaseFailed, check, pid_alive, port_closed, run_case  # noqa: E402

KOLORUN = None
DEADLINE_S = 25  # any single kolorun run; the fail-fast cases must end far sooner than their sleeps


def run(args, **kwargs):
    """Runs kolorun to completion; returns (rc, stdout bytes, stderr bytes)."""
    try:
        proc = subprocess.run([KOLORUN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=DEADLINE_S, **kwargs)
    except subprocess.TimeoutExpired as e:
        raise CaseFailed(f"kolorun {args} did not finish within {DEADLINE_S} s: "
                         f"stdout={e.stdout!r} stderr={e.stderr!r}")
    return proc.returncode, proc.stdout, proc.stderr


def expect_rc(result, want, args=""):
    rc, out, err = result
    check(rc == want, f"kolorun {args}: exit code {rc}, expected {want}\n"
                      f"stdout={out.decode(errors='replace')}\n"
                      f"stderr={err.decode(errors='replace')}")


def lines_of(data):
    return data.decode().splitlines()


def case_env_contract():
    script = ('echo "$KOLO_RANK $KOLO_SIZE $KOLO_LOCAL_RANK $KOLO_LOCAL_SIZE $KOLO_CROSS_RANK '
              '$KOLO_CROSS_SIZE $RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE|$KOLO_HOSTNAME|'
              '$KOLO_JOB_ID|$KOLO_STORE|$MASTER_ADDR|$MASTER_PORT|$INHERITED"')
    env = dict(os.environ, INHERITED="from-parent", KOLO_RANK="99")
    results = []
    for _ in range(2):
        rc, out, err = run(["-np", "3", "sh", "-c", script], env=env)
        expect_rc((rc, out, err), 0)
        by_rank = {}
        for line in lines_of(out):
            m = re.fullmatch(r"\[(\d)\]<stdout>:(.*)", line)
            check(m, f"unprefixed line {line!r}")
            by_rank[int(m.group(1))] = m.group(2).split("|")
        check(sorted(by_rank) == [0, 1, 2], f"ranks seen: {sorted(by_rank)}")
        for rank, fields in by_rank.items():
            want = f"{rank} 3 {rank} 3 0 1 {rank} 3 {rank} 3"
            check(fields[0] == want, f"rank {rank}: numbers {fields[0]!r}, expected {want!r}")
            check(fields[1] == os.uname().nodename, f"KOLO_HOSTNAME {fields[1]!r}")
            check(re.fullmatch(r"[0-9a-f]{32}", fields[2]), f"KOLO_JOB_ID {fields[2]!r}")
            check(re.fullmatch(r"tcp:127\.0\.0\.1:\d+", fields[3]), f"KOLO_STORE {fields[3]!r}")
            check(fields[4] == "127.0.0.1", f"MASTER_ADDR {fields[4]!r}")
            check(fields[5].isdigit() and 0 < int(fields[5]) < 65536, f"MASTER_PORT {fields[5]!r}")
            check(fields[6] == "from-parent", "kolorun's environment was not inherited")
        for column in (2, 3, 5):
            values = {fields[column] for fields in by_rank.values()}
            check(len(values) == 1, f"column {column} differs between ranks: {values}")
        results.append(by_rank[0])
    check(results[0][2] != results[1][2], "two jobs got the same KOLO_JOB_ID")
    check(results[0][3] != results[1][3], "two jobs got the same KOLO_STORE")


def case_output_prefixes():
    rc, out, err = run(["-np", "2", "--", "sh", "-c",
                        'echo "out $KOLO_RANK"; echo "err $KOLO_RANK" >&2'])
    expect_rc((rc, out, err), 0)
    check(sorted(lines_of(out)) == ["[0]<stdout>:out 0", "[1]<stdout>:out 1"], f"stdout {out!r}")
    check(sorted(lines_of(err)) == ["[0]<stderr>:err 0", "[1]<stderr>:err 1"], f"stderr {err!r}")


def case_partial_utf8_cr():
    rc, out, err = run(["-np", "1", "printf", "a\\rb\\n\\303\\251t\\342\\202\\254\\nno-newline"])
    expect_rc((rc, out, err), 0)
    want = "[0]<stdout>:a\rb\n[0]<stdout>:ét€\n[0]<stdout>:no-newline\n".encode()
    check(out == want, f"stdout {out!r}, expected {want!r}")


def case_no_interleave():
    # Both ranks write long lines in many small writes at once; each line must come out whole.
    code = ("import os,sys\n"
            "r=os.environ['KOLO_RANK']\n"
            "for i in range(200):\n"
            "    for part in range(8):\n"
            "        sys.stdout.write(r*1000); sys.stdout.flush()\n"
            "    sys.stdout.write('\\n'); sys.stdout.flush()\n")
    rc, out, err = run(["-np", "2", "/usr/bin/python3", "-c", code])
    expect_rc((rc, out, err), 0)
    counts = {"0": 0, "1": 0}
    for line in lines_of(out):
        m = re.fullmatch(r"\[(\d)\]<stdout>:(\d+)", line)
        check(m and m.group(2) == m.group(1) * 8000, f"mixed or cut line: {line[:80]!r}...")
        counts[m.group(1)] += 1
    check(counts == {"0": 200, "1": 200}, f"line counts {counts}")


def case_exit_zero():
    expect_rc(run(["-np", "4", "true"]), 0)


def case_exit_code():
    rc, out, err = run(["-np", "3", "sh", "-c", 'if [ "$KOLO_RANK" = 1 ]; then exit 3; fi'])
    expect_rc((rc, out, err), 3)
    check(re.search(rb"kolorun: rank 1 \(pid \d+\) exited with code 3\n", err), f"stderr {err!r}")


def case_signal_exit():
    rc, out, err = run(["-np", "2", "sh", "-c", 'if [ "$KOLO_RANK" = 0 ]; then kill -9 $$; fi'])
    expect_rc((rc, out, err), 128 + 9)
    check(re.search(rb"kolorun: rank 0 \(pid \d+\) was killed by signal 9 \(SIGKILL\)", err),
          f"stderr {err!r}")


def case_fail_fast():
    start = time.monotonic()
    rc, out, err = run(["-np", "3", "sh", "-c",
                        'if [ "$KOLO_RANK" = 2 ]; then sleep 0.2; exit 3; fi; exec sleep 60'])
    elapsed = time.monotonic() - start
    expect_rc((rc, out, err), 3)
    check(elapsed < 15, f"fail-fast took {elapsed:.1f} s; the sleeping ranks were not stopped")
    check(b"kolorun: rank 2" in err and b"sending SIGTERM to 2 remaining rank(s)" in err,
          f"stderr {err!r}")
    check(b"rank 0" not in err and b"rank 1 " not in err,
          f"ranks stopped by kolorun were reported as failures: {err!r}")


def case_kill_after_grace():
    # Rank 0 ignores SIGTERM; it must be SIGKILLed after the grace period.
    rc, out, err = run(["-np", "2", "--kill-grace", "0.5", "sh", "-c",
                        'if [ "$KOLO_RANK" = 1 ]; then sleep 0.2; exit 2; fi; '
                        "trap '' TERM; sleep 60"])
    expect_rc((rc, out, err), 2)
    check(b"sending SIGKILL" in err, f"stderr {err!r}")


def store_port(url):
    m = re.fullmatch(r"tcp:127\.0\.0\.1:(\d+)", url)
    check(m, f"KOLO_STORE {url!r} is not tcp:127.0.0.1:PORT")
    return int(m.group(1))


def case_timeout():
    rc, out, err = run(["-np", "2", "--timeout", "1", "sh", "-c",
                        'echo "$KOLO_STORE"; exec sleep 60'])
    expect_rc((rc, out, err), 124)
    check(b"--timeout 1 s" in err, f"stderr {err!r}")
    urls = {line.split(":", 1)[1] for line in lines_of(out)}
    check(len(urls) == 1, f"ranks disagree on the store: {out!r}")
    check(port_closed(store_port(urls.pop())), "the store still listens after a timeout")


def case_store_removed():
    # The store lives exactly as long as kolorun: after success and after failure its port is shut.
    for command, want_rc in ((["sh", "-c", 'echo "$KOLO_STORE"'], 0),
                             (["sh", "-c", 'echo "$KOLO_STORE"; exit 4'], 4)):
        rc, out, err = run(["-np", "2"] + command)
        expect_rc((rc, out, err), want_rc)
        urls = {line.split(":", 1)[1] for line in lines_of(out)}
        check(len(urls) == 1, f"ranks disagree on the store: {out!r}")
        check(port_closed(store_port(urls.pop())), "the store still listens after kolorun exited")


def case_background_child():
    # A rank that exits 0 but leaves a background process holding its stdout open must not keep
    # kolorun waiting for EOF forever.
    rc, out, err = run(["-np", "1", "sh", "-c", 'sleep 30 & echo "bg $!"'])
    for pid in re.findall(rb"bg (\d+)", out):
        if pid_alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
    expect_rc((rc, out, err), 0)
    check(re.fullmatch(rb"\[0\]<stdout>:bg \d+\n", out), f"stdout {out!r}")


def case_bad_command():
    rc, out, err = run(["-np", "2", "no-such-command-kolo"])
    check(rc != 0, "a missing command exited 0")
    check(b"no-such-command-kolo" in err, f"stderr does not name the command: {err!r}")
    with tempfile.NamedTemporaryFile(suffix=".sh") as script:
        os.chmod(script.name, 0o644)
        rc, out, err = run(["-np", "1", script.name])
        check(rc != 0, "a non-executable file exited 0")
        check(script.name.encode() in err, f"stderr does not name the file: {err!r}")


def case_dash_x():
    env = dict(os.environ, KOLO_TEST_PASSED="parent-value")
    rc, out, err = run(["-np", "2", "-x", "KOLO_TEST_SET=a=b", "-x", "KOLO_TEST_PASSED", "-x",
                        "MASTER_PORT=4242", "sh", "-c",
                        'echo "$KOLO_TEST_SET $KOLO_TEST_PASSED $MASTER_PORT"'], env=env)
    expect_rc((rc, out, err), 0)
    check(sorted(lines_of(out)) == ["[0]<stdout>:a=b parent-value 4242",
                                    "[1]<stdout>:a=b parent-value 4242"], f"stdout {out!r}")


def case_dry_run():
    with tempfile.TemporaryDirectory() as tmp:
        marker = os.path.join(tmp, "marker")
        rc, out, err = run(["-np", "2", "--dry-run", "-x", "FOO=bar", "sh", "-c",
                            f"touch {marker}"])
        expect_rc((rc, out, err), 0)
        check(not os.path.exists(marker), "--dry-run launched the command")
        text = out.decode()
        for want in ("rank 0: host", "rank 1: host", "KOLO_RANK=1", "KOLO_SIZE=2", "FOO=bar",
                     "KOLO_STORE=tcp:127.0.0.1:", "local rank 1: sh -c",
                     "KOLO_SECRET=<redacted>"):
            check(want in text, f"--dry-run output lacks {want!r}:\n{text}")
        check(not re.search(r"[0-9a-f]{64}", text), f"--dry-run shows a secret:\n{text}")


def wait_for_lines(proc, pattern, count):
    """Reads proc.stdout until `count` lines match; returns them. Deadline DEADLINE_S."""
    os.set_blocking(proc.stdout.fileno(), False)
    deadline = time.monotonic() + DEADLINE_S
    buffer, found = b"", []
    while len(found) < count:
        check(time.monotonic() < deadline, f"waited {DEADLINE_S} s for {pattern!r}: {buffer!r}")
        chunk = proc.stdout.read()
        if chunk:
            buffer += chunk
            found = re.findall(pattern, buffer)
        else:
            check(proc.poll() is None, f"kolorun exited early: {buffer!r}")
            time.sleep(0.02)
    return found


def case_sigint_forwarded():
    script = ('trap "echo got-int; exit 5" INT; echo ready; '
              "while :; do sleep 0.1; done")
    proc = subprocess.Popen([KOLORUN, "-np", "2", "sh", "-c", script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for_lines(proc, rb"<stdout>:ready\n", 2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(proc.returncode == 128 + signal.SIGINT, f"exit code {proc.returncode}, stderr {err!r}")
    check(out.count(b"<stdout>:got-int") == 2, f"ranks did not see SIGINT: {out!r}")
    check(b"received SIGINT" in err, f"stderr {err!r}")


def case_parent_death():
    # kolorun dies without any chance to clean up; PR_SET_PDEATHSIG must take the ranks along.
    proc = subprocess.Popen([KOLORUN, "-np", "2", "sh", "-c",
                             'echo "pid $$ ${KOLO_STORE#file:}"; exec sleep 60'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    found = []
    try:
        found = wait_for_lines(proc, rb"<stdout>:pid (\d+) (\S+)\n", 2)
        proc.kill()
        proc.wait(timeout=DEADLINE_S)
        pids = [int(pid) for pid, _ in found]
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for pid in pids):
            check(time.monotonic() < deadline, f"ranks {pids} outlived a SIGKILLed kolorun")
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, path in found:  # kolorun had no chance to clean up; do it for the next case
            if pid_alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["rm", "-rf", path.decode()], check=False)


def case_help_version():
    rc, out, err = run(["--help"])
    expect_rc((rc, out, err), 0)
    check(b"--timeout" in out and b"--dry-run" in out, f"help {out!r}")
    rc, out, err = run(["--version"])
    expect_rc((rc, out, err), 0)
    check(re.match(rb"kolorun \d+\.\d+\.\d+", out), f"version {out!r}")


PROBE = None  # store_probe, from the command line


def probe():
    check(PROBE and os.path.exists(PROBE), f"store_probe not found: {PROBE!r}")
    return PROBE


def case_loopback_hosts():
    script = ('echo "$KOLO_RANK $KOLO_LOCAL_RANK $KOLO_LOCAL_SIZE $KOLO_CROSS_RANK $KOLO_CROSS_SIZE '
              '$KOLO_HOSTNAME $KOLO_BIND_ADDRESS $LOCAL_RANK $MASTER_ADDR"')
    rc, out, err = run(["-H", "127.0.0.1:2,127.0.0.2:2", "sh", "-c", script])
    expect_rc((rc, out, err), 0)
    got = sorted(line.split(":", 1)[1] for line in lines_of(out))
    want = ["0 0 2 0 2 127.0.0.1 127.0.0.1 0 127.0.0.1", "1 1 2 0 2 127.0.0.1 127.0.0.1 1 127.0.0.1",
            "2 0 2 1 2 127.0.0.2 127.0.0.2 0 127.0.0.1", "3 1 2 1 2 127.0.0.2 127.0.0.2 1 127.0.0.1"]
    check(got == want, f"rank map {got}, expected {want}")
    # -np smaller than the slots takes the first slots in order: 3 ranks -> 2 + 1.
    rc, out, err = run(["-np", "3", "-H", "127.0.0.1:2,127.0.0.2:2", "sh", "-c", script])
    expect_rc((rc, out, err), 0)
    got = sorted(line.split(":", 1)[1].split()[:5] for line in lines_of(out))
    check(got == [["0", "0", "2", "0", "2"], ["1", "1", "2", "0", "1"], ["2", "0", "1", "1", "2"]],
          f"np 3 rank map {got}")
    # The store works across the two "hosts".
    rc, out, err = run(["-H", "127.0.0.1:2,127.0.0.2:2", probe(), "exchange"])
    expect_rc((rc, out, err), 0)
    check(len([l for l in lines_of(out) if "exchanged with 4 ranks" in l]) == 4, f"stdout {out!r}")


def case_too_many_ranks():
    rc, out, err = run(["-np", "5", "-H", "127.0.0.1:2,127.0.0.2:2", "true"])
    expect_rc((rc, out, err), 2)
    check(b"5 ranks requested but the 2 host(s) have only 4 slots" in err, f"stderr {err!r}")


def case_hostfile():
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "hosts")
        with open(good, "w") as f:
            f.write("# two loopback hosts\n127.0.0.1 slots=1\n\n127.0.0.2:2  # comment\nlocalhost\n")
        rc, out, err = run(["--hostfile", good, "sh", "-c", 'echo "$KOLO_RANK $KOLO_HOSTNAME"'])
        expect_rc((rc, out, err), 0)
        got = sorted(line.split(":", 1)[1] for line in lines_of(out))
        check(got == ["0 127.0.0.1", "1 127.0.0.2", "2 127.0.0.2", "3 localhost"], f"got {got}")
        bad = os.path.join(tmp, "bad")
        with open(bad, "w") as f:
            f.write("127.0.0.1 slots=1\n# fine\n127.0.0.2 slots=lots\n")
        rc, out, err = run(["-np", "1", "--hostfile", bad, "true"])
        expect_rc((rc, out, err), 2)
        check(f"{bad}:3:".encode() in err and b"'lots'" in err, f"stderr {err!r}")
        rc, out, err = run(["-np", "1", "--hostfile", os.path.join(tmp, "missing"), "true"])
        expect_rc((rc, out, err), 2)
        check(b"cannot read hostfile" in err, f"stderr {err!r}")


def case_ssh_unreachable():
    rc, out, err = run(["-H", "127.0.0.1:1,kolo-no-such-host.invalid:1", "true"])
    expect_rc((rc, out, err), 1)
    check(b"1 host(s) cannot be reached with ssh" in err and b"kolo-no-such-host.invalid:" in err,
          f"stderr {err!r}")


def case_store_exchange():
    rc, out, err = run(["-np", "4", probe(), "exchange"])
    expect_rc((rc, out, err), 0)
    check(sorted(lines_of(out)) == [f"[{r}]<stdout>:rank {r} exchanged with 4 ranks"
                                    for r in range(4)], f"stdout {out!r}")
    check(b"closed connection" not in err, f"the job's own clients were rejected: {err!r}")


def case_store_attack():
    # Rank 0 opens 1000 malformed connections, tries a wrong secret and replays a message; the
    # store refuses each with a log line naming the peer, and the job still completes.
    rc, out, err = run(["-np", "3", probe(), "attack", "1000"])
    expect_rc((rc, out, err), 0)
    check(b"[0]<stdout>:attacks done" in out, f"stdout {out!r}")
    check(len([l for l in lines_of(out) if "exchanged with 3 ranks" in l]) == 3, f"stdout {out!r}")
    rejected = [l for l in err.decode().splitlines()
                if re.match(r"kolorun: store: closed connection from 127\.0\.0\.1:\d+: ", l)]
    check(len(rejected) >= 1002, f"{len(rejected)} rejection lines, expected >= 1002")
    check(any("replayed or reordered" in l for l in rejected), "no replay rejection logged")
    check(any("authentication failed" in l for l in rejected), "no bad-MAC rejection logged")


def case_start_timeout():
    start = time.monotonic()
    script = (f'case $KOLO_RANK in 1|3) exec sleep 30;; *) exec {probe()} hold 30;; esac')
    rc, out, err = run(["-np", "4", "--start-timeout", "2", "sh", "-c", script])
    elapsed = time.monotonic() - start
    expect_rc((rc, out, err), 124)
    check(b"2/4 ranks joined the store within --start-timeout 2 s; missing 1, 3" in err,
          f"stderr {err!r}")
    check(elapsed < 15, f"start timeout took {elapsed:.1f} s")


def case_output_files_and_filter():
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run(["-np", "3", "--output-filename", tmp, "--ranks-filter", "1", "sh", "-c",
                            'echo "out $KOLO_RANK"; echo "err $KOLO_RANK" >&2'])
        expect_rc((rc, out, err), 0)
        check(out == b"[1]<stdout>:out 1\n", f"filtered stdout {out!r}")
        check(err == b"[1]<stderr>:err 1\n", f"filtered stderr {err!r}")
        for r in range(3):
            for stream in ("stdout", "stderr"):
                with open(os.path.join(tmp, f"rank.{r}", stream), "rb") as f:
                    data = f.read()
                word = "out" if stream == "stdout" else "err"
                check(data == f"{word} {r}\n".encode(), f"rank.{r}/{stream}: {data!r}")
    rc, out, err = run(["-np", "2", "--ranks-filter", "2", "true"])
    expect_rc((rc, out, err), 2)
    check(b"--ranks-filter names rank 2 but the job has 2 rank(s)" in err, f"stderr {err!r}")


def case_prefix_timestamp():
    rc, out, err = run(["-np", "1", "--prefix-timestamp", "echo", "hi"])
    expect_rc((rc, out, err), 0)
    check(re.fullmatch(rb"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\]\[0\]<stdout>:hi\n", out),
          f"stdout {out!r}")


def case_check_build_help_env():
    rc, out, err = run(["--check-build"])
    expect_rc((rc, out, err), 0)
    for want in (b"[X] shm", b"[X] tcp", b"] MPI", b"] NCCL", b"] CUDA", b"] hwloc",
                 b"] torch adapter"):
        check(want in out, f"--check-build lacks {want!r}: {out!r}")
    rc, out, err = run(["--help-env"])
    expect_rc((rc, out, err), 0)
    text = out.decode()
    for name, default in (("KOLO_TIMEOUT_SECONDS", "300"), ("KOLO_START_TIMEOUT", "30"),
                          ("KOLO_LOG_LEVEL", "warning"), ("KOLO_FUSION_THRESHOLD", "64M"),
                          ("KOLO_TRANSPORT", "auto"), ("KOLO_CACHE_CAPACITY", "1024")):
        check(re.search(rf"^{name}\s+{default}\s", text, re.M), f"--help-env row {name}: {text}")


def case_unknown_setting():
    # A misspelt KOLO_* variable, inherited or passed with -x, gets one warning naming the
    # setting it was probably meant to be; declared ones (also what tests set) get none.
    env = dict(os.environ, KOLO_CYCLE_TIM="2",  # undeclared on purpose
               KOLO_TIMEOUT_SECONDS="30", KOLO_TEST_PASSED="x")
    rc, out, err = run(["-np", "1", "-x", "KOLO_FUSION_TRESHOLD=1M",  # undeclared on purpose
                        "true"], env=env)
    expect_rc((rc, out, err), 0)
    text = err.decode()
    for line in ("kolorun: warning: KOLO_CYCLE_TIM is not a Kolo setting; did you mean "
                 "KOLO_CYCLE_TIME?",
                 "kolorun: warning: KOLO_FUSION_TRESHOLD is not a Kolo setting; did you mean "
                 "KOLO_FUSION_THRESHOLD?"):
        check(text.count(line) == 1, f"expected one {line!r} in stderr {text!r}")
    check(text.count("is not a Kolo setting") == 2, f"stderr {text!r}")


def case_failure_summary():
    rc, out, err = run(["-np", "3", "sh", "-c",
                        'if [ "$KOLO_RANK" = 1 ]; then echo first >&2; echo boom >&2; exit 3; fi;'
                        ' exec sleep 30'])
    expect_rc((rc, out, err), 3)
    host = os.uname().nodename
    check(re.search(rf"kolorun: first failure: rank 1 on host {re.escape(host)} \(pid \d+\) "
                    rf"exited with code 3; its last stderr lines:\nkolorun:   \[1\]<stderr>:first\n"
                    rf"kolorun:   \[1\]<stderr>:boom\n".encode(), err), f"stderr {err!r}")


def case_mpi_delegation():
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_plm_rsh_agent="")
    rc, out, err = run(["--mpi", "-np", "2", "--bind-to", "none", "-x", "FOO=bar", "sh", "-c",
                        'echo "$OMPI_COMM_WORLD_RANK $FOO ${KOLO_STORE%:*} ${#KOLO_SECRET}"'],
                       env=env)
    expect_rc((rc, out, err), 0)
    text = out.decode()
    for r in range(2):
        check(f"{r} bar tcp:127.0.0.1 64" in text, f"--mpi output {text!r} stderr {err!r}")


def case_loopback_hosts_program():
    # PROBE is a Kolo test program here (collectives or runtime); it must pass on every rank.
    global DEADLINE_S
    DEADLINE_S = 140
    rc, out, err = run(["-H", "127.0.0.1:2,127.0.0.2:2", "--timeout", "130", "-x",
                        "KOLO_TIMEOUT_SECONDS=60", probe()])
    expect_rc((rc, out, err), 0)
    text = out.decode()
    for r in range(4):
        check(re.search(rf"^\[{r}\]<stdout>:rank {r}\b.*\bpassed\b", text, re.M),
              f"rank {r} did not report success:\n{text}\n{err.decode(errors='replace')}")
    check(not re.search(r"\b[1-9]\d* failed|FAILED", text), f"failures reported:\n{text}")
    if "over " in text:
        check("over shm" not in text and "over tcp" in text,
              f"ranks on different hosts must use TCP:\n{text}")


def main():
    global KOLORUN, PROBE
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: {sys.argv[0]} KOLORUN CASE [STORE_PROBE]")
    KOLORUN = sys.argv[1]
    PROBE = sys.argv[3] if len(sys.argv) == 4 else None
    sys.exit(run_case(globals(), sys.argv[2]))


if __name__ == "__main__":
    main()
