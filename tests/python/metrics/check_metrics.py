"""Live metrics end to end: a 2-rank kolorun job (metrics_job.py) publishes its metrics and this
driver checks them while the job waits.

  check_metrics.py KOLORUN MODE WORKDIR [kolorun options...]

MODE
  http        GET /metrics: the exposition format (HELP/TYPE, label syntax, histograms) and
              the exact counts and bytes of the job's collectives, for both ranks, on one
              endpoint; per-peer transport bytes when KOLO_TRANSPORT=tcp.
  prometheus  a real Prometheus server (Debian's `prometheus`) scrapes the job; its HTTP API
              must report the job's allreduce count. Skipped (exit 77) without the binary.
  file        KOLO_METRICS_FILE: the same checks on the file local rank 0 rewrites.
  port_in_use the port is already taken: the job still succeeds and says which port could not
              be served and why.
  straggler   one rank sleeps before each allreduce (straggler_job.py): every rank's arrival
              metrics name it as the one that arrived last, the summary at shutdown says so, and
              the other rank counts its waits as stalls (KOLO_STALL_WARNING_SECONDS=0.02).
  phases      KOLO_METRICS_FILE with allreduce, allgather and broadcast (phases_job.py): the
              collective time split by phase adds up and kolo_report.py prints and draws it
              (phase_checks.py).
Exits 0 on success; any failure prints what differed."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import exposition  # noqa: E402
import metrics_job  # noqa: E402

NP = 2
SKIP = 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_job(kolorun, workdir, env_extra, kolorun_args, script="metrics_job.py"):
    control = os.path.join(workdir, "control")
    shutil.rmtree(control, ignore_errors=True)
    os.makedirs(control)
    env = dict(os.environ, KOLO_METRICS_INTERVAL="0.2", **env_extra)
    cmd = [kolorun, "-np", str(NP), "--timeout", "150", *kolorun_args, "--",
           sys.executable, os.path.join(HERE, script), control]
    log = open(os.path.join(workdir, "job.log"), "w+")
    job = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    job.metrics_port = env_extra.get("KOLO_METRICS_PORT")
    return job, control, log


def remove_snapshot_dirs(job):
    """A killed job cannot remove its ranks' snapshot directory (ARCHITECTURE.md, "Live
    metrics"): remove the one of this job's endpoint."""
    port = getattr(job, "metrics_port", None)
    if port:
        for d in glob.glob("/dev/shm/kolo-metrics-%d-*-port%s" % (os.getuid(), port)):
            shutil.rmtree(d, ignore_errors=True)


def wait_ready(job, control, log, timeout=120):
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(os.path.join(control, "ready.%d" % r)) for r in range(NP)):
        if job.poll() is not None or time.monotonic() > deadline:
            fail(job, log, "the job did not reach its checkpoint (exit %s)" % job.poll())
        time.sleep(0.05)


def finish_job(job, control, log):
    open(os.path.join(control, "done"), "w").close()
    try:
        rc = job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        fail(job, log, "the job did not end after the checks")
    if rc != 0:
        fail(job, log, "the job exited %d" % rc)
    log.seek(0)
    return log.read()


def fail(job, log, why):
    if job.poll() is None:
        job.kill()
        job.wait()
        remove_snapshot_dirs(job)
    log.seek(0)
    print("--- job output ---\n%s--- end ---" % log.read())
    print("FAIL: " + why, flush=True)
    sys.exit(1)


def expected_mismatches(families, transport_tcp):
    """What differs from metrics_job.EXPECTED, as text; empty when everything matches."""
    bad = []
    for rank in range(NP):
        for op, (tensors, nbytes) in metrics_job.EXPECTED.items():
            labels = dict(rank=rank, process_set=0, op=op)
            for sample, want in (("kolo_ops_total", tensors), ("kolo_bytes_total", nbytes),
                                 ("kolo_op_latency_seconds_count", tensors),
                                 ("kolo_fusion_batch_tensors_sum", tensors),
                                 ("kolo_ops_failed_total", 0)):
                got = exposition.value(families, sample, **labels)
                if got != want:
                    bad.append("%s%r = %s, expected %s" % (sample, labels, got, want))
            batches = exposition.value(families, "kolo_fusion_batch_tensors_count", **labels)
            if batches is None or not 1 <= batches <= tensors:
                bad.append("rank %d %s: %s batches for %d tensors" % (rank, op, batches, tensors))
        hits = exposition.value(families, "kolo_response_cache_hits_total", rank=rank,
                                process_set=0)
        misses = exposition.value(families, "kolo_response_cache_misses_total", rank=rank,
                                  process_set=0)
        # Every op is a cache hit or a negotiated request (init's own allgather included).
        ops = sum(v for name, lab, v in families.get("kolo_ops_total", {"samples": []})["samples"]
                  if lab.get("rank") == str(rank))
        if hits is None or misses is None or hits + misses != ops or \
                ops < metrics_job.OPS_PER_RANK:
            bad.append("rank %d: cache hits %s + misses %s, %s ops done (the job ran %d)" %
                       (rank, hits, misses, ops, metrics_job.OPS_PER_RANK))
        elif hits < metrics_job.SYNC_ALLREDUCES - 1:
            bad.append("rank %d: only %s cache hits; the repeated allreduce should hit" %
                       (rank, hits))
        if exposition.value(families, "kolo_stalls_total", rank=rank, process_set=0) != 0:
            bad.append("rank %d: stalls counted in a job without stalls" % rank)
        if transport_tcp:
            peer = 1 - rank
            for sample in ("kolo_transport_sent_bytes_total",
                           "kolo_transport_received_bytes_total"):
                got = exposition.value(families, sample, rank=rank, peer=peer)
                if not got:
                    bad.append("%s rank %d peer %d = %s over TCP" % (sample, rank, peer, got))
    return bad


def poll_until_expected(read, tcp, what, timeout=20):
    """read() returns exposition text; retries until it matches EXPECTED (snapshots are
    published every KOLO_METRICS_INTERVAL)."""
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        families = exposition.parse(text)  # the format must hold in every snapshot
        bad = expected_mismatches(families, tcp)
        if not bad:
            return text
        if time.monotonic() > deadline:
            raise AssertionError("%s after %ds:\n  %s\n--- exposition ---\n%s" %
                                 (what, timeout, "\n  ".join(bad), text))
        time.sleep(0.2)


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        if response.status != 200:
            raise AssertionError("%s: HTTP %d" % (url, response.status))
        ctype = response.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            raise AssertionError("%s: Content-Type %r" % (url, ctype))
        return response.read().decode()


def check_http(kolorun, workdir, kolorun_args):
    port = free_port()
    tcp = os.environ.get("KOLO_TRANSPORT") == "tcp"
    job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_PORT": str(port)},
                                  kolorun_args)
    wait_ready(job, control, log)
    base = "http://127.0.0.1:%d" % port
    try:
        text = poll_until_expected(lambda: http_get(base + "/metrics"), tcp, "GET /metrics")
        for path, code in (("/", 404), ("/other", 404)):
            try:
                urllib.request.urlopen(base + path, timeout=10)
                raise AssertionError("GET %s answered 200; expected %d" % (path, code))
            except urllib.error.HTTPError as e:
                if e.code != code:
                    raise AssertionError("GET %s answered %d; expected %d" % (path, e.code, code))
    except AssertionError as e:
        fail(job, log, str(e))
    finish_job(job, control, log)
    ranks = sorted({s[1]["rank"] for f in exposition.parse(text).values() for s in f["samples"]})
    if ranks != [str(r) for r in range(NP)]:
        print("FAIL: the endpoint shows ranks %r" % ranks)
        return 1
    print("OK: one endpoint served both ranks' metrics, exact counts:\n" + text[:1500])
    return 0


def check_file(kolorun, workdir, kolorun_args):
    path_pattern = os.path.join(workdir, "metrics-%h.prom")
    host = socket.gethostname()
    path = path_pattern.replace("%h", os.environ.get("KOLO_HOSTNAME", host))
    if os.path.exists(path):
        os.remove(path)
    job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_FILE": path_pattern},
                                  kolorun_args)
    wait_ready(job, control, log)

    def read():
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()
    try:
        poll_until_expected(read, False, "KOLO_METRICS_FILE %s" % path)
    except AssertionError as e:
        fail(job, log, str(e))
    finish_job(job, control, log)
    final = exposition.parse(read())
    if exposition.value(final, "kolo_ops_total", rank=0, process_set=0, op="allreduce") != \
            metrics_job.EXPECTED["allreduce"][0]:
        print("FAIL: the file written at shutdown lacks rank 0's final counts:\n" + read())
        return 1
    print("OK: %s held both ranks' exact counts while the job ran" % path)
    return 0


def check_port_in_use(kolorun, workdir, kolorun_args):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_PORT": str(port)},
                                      kolorun_args)
        wait_ready(job, control, log)
        output = finish_job(job, control, log)
    wanted = ["KOLO_METRICS_PORT=%d" % port, "127.0.0.1:%d" % port, "bind failed",
              "Address already in use", "not served; the job goes on"]
    missing = [w for w in wanted if w not in output]
    if missing:
        print("--- job output ---\n%s--- end ---" % output)
        print("FAIL: the warning for the port in use lacks %r" % missing)
        return 1
    print("OK: the job finished and said: " +
          next(line for line in output.splitlines() if "bind failed" in line))
    return 0


def check_prometheus(kolorun, workdir, kolorun_args):
    binary = shutil.which("prometheus")
    if binary is None:
        print("SKIP: no prometheus binary on PATH (Debian package `prometheus`, installed by "
              ".ci/install-deps.sh)")
        return SKIP
    port, web = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="prom-data-", dir=workdir)
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: kolo\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % port)
    prom_log = open(os.path.join(workdir, "prometheus.log"), "w+")
    prom = subprocess.Popen([binary, "--config.file=" + config, "--storage.tsdb.path=" + data,
                             "--web.listen-address=127.0.0.1:%d" % web],
                            stdout=prom_log, stderr=subprocess.STDOUT)
    try:
        return _scrape_with_prometheus(kolorun, workdir, kolorun_args, port, web, prom, prom_log)
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        shutil.rmtree(data, ignore_errors=True)


def _prom_query(web, query):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (web, urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read().decode())
    if body.get("status") != "success":
        raise AssertionError("prometheus query %s: %r" % (query, body))
    return {r["metric"].get("rank"): float(r["value"][1]) for r in body["data"]["result"]}


def _scrape_with_prometheus(kolorun, workdir, kolorun_args, port, web, prom, prom_log):
    job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_PORT": str(port)},
                                  kolorun_args)
    wait_ready(job, control, log)
    want = {str(r): float(metrics_job.EXPECTED["allreduce"][0]) for r in range(NP)}
    query = 'kolo_ops_total{job="kolo",op="allreduce",process_set="0"}'
    deadline = time.monotonic() + 60
    got = None
    while got != want:
        if prom.poll() is not None or time.monotonic() > deadline:
            prom_log.seek(0)
            fail(job, log, "prometheus reports %r for %s, expected %r (prometheus %s):\n%s" %
                 (got, query, want, "exited" if prom.poll() is not None else "running",
                  prom_log.read()[-3000:]))
        try:
            got = _prom_query(web, query)
        except OSError:
            got = None  # prometheus still starting
        time.sleep(0.5)
    finish_job(job, control, log)
    print("OK: prometheus scraped %s = %r" % (query, got))
    return 0


def check_report(scrape, workdir, slow):
    """bench/kolo_report.py over the scrape: a picture per rank, the skew chart, and every
    rank's view naming the slow rank as the one that most often arrived last."""
    path = os.path.join(workdir, "straggler.metrics.txt")
    with open(path, "w") as f:
        f.write(scrape)
    outdir = os.path.join(workdir, "report")
    report = os.path.join(HERE, "..", "..", "..", "bench", "kolo_report.py")
    run = subprocess.run([sys.executable, report, path, "--outdir", outdir],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    bad = [] if run.returncode == 0 else ["kolo_report exited %d:\n%s" % (run.returncode,
                                                                         run.stdout)]
    for png in ["report_rank%d.png" % r for r in range(NP)] + ["report_skew.png"]:
        png_path = os.path.join(outdir, png)
        if not (os.path.exists(png_path) and os.path.getsize(png_path) > 0):
            bad.append("kolo_report wrote no %s" % png)
    for rank in range(NP):
        if "set 0 seen by rank %d: rank %s arrived last" % (rank, slow) not in run.stdout:
            bad.append("kolo_report does not name rank %s for rank %d's view:\n%s"
                       % (slow, rank, run.stdout))
    return bad


def check_straggler(kolorun, workdir, kolorun_args):
    import straggler_job as sj
    port = free_port()
    # The fast rank's ops wait DELAY for the slow one: past a shorter stall warning time.
    job, control, log = start_job(kolorun, workdir, {"KOLO_METRICS_PORT": str(port),
                                                     "KOLO_LOG_LEVEL": "info",
                                                     "KOLO_STALL_WARNING_SECONDS": "0.02"},
                                  kolorun_args, script="straggler_job.py")
    wait_ready(job, control, log)
    delayed = sj.CACHED_OPS + sj.NEGOTIATED_OPS
    slow, fast = str(sj.SLOW_RANK), str(1 - sj.SLOW_RANK)
    scrape = http_get("http://127.0.0.1:%d/metrics" % port)
    families = exposition.parse(scrape)
    bad = check_report(scrape, workdir, slow)
    for rank in range(NP):
        labels = dict(rank=rank, process_set=0)
        last_slow = exposition.value(families, "kolo_arrived_last_total", member_rank=slow,
                                     **labels)
        last_fast = exposition.value(families, "kolo_arrived_last_total", member_rank=fast,
                                     **labels)
        lag = exposition.value(families, "kolo_arrival_lag_seconds_total", member_rank=slow,
                               **labels)
        # The sleep is certain; a loaded machine may still hold the fast rank up now and then.
        if last_slow is None or last_slow < 0.75 * delayed or last_slow <= last_fast:
            bad.append("rank %d: rank %s arrived last %s times, rank %s %s times (%d delayed ops)"
                       % (rank, slow, last_slow, fast, last_fast, delayed))
        # Lags are measured in cycles and a stall retry can shorten one (ARCHITECTURE.md,
        # "Arrival skew"): half the injected delay must show.
        if lag is None or lag < 0.5 * delayed * sj.DELAY:
            bad.append("rank %d: rank %s's summed lag %s s, below 0.5 x %d x %s s" %
                       (rank, slow, lag, delayed, sj.DELAY))
    stalls = {r: exposition.value(families, "kolo_stalls_total", rank=r, process_set=0)
              for r in (slow, fast)}
    if stalls[fast] is None or stalls[fast] < 0.75 * delayed or stalls[slow] >= stalls[fast]:
        bad.append("kolo_stalls_total: %r; expected most of the %d delayed ops on rank %s" %
                   (stalls, delayed, fast))
    if bad:
        fail(job, log, "\n".join(bad))
    output = finish_job(job, control, log)
    lines = [l for l in output.splitlines() if "process set 0: rank" in l and "arrived last" in l]
    if len(lines) != 1 or "process set 0: rank %s arrived last in" % slow not in lines[0]:
        print("--- job output ---\n%s--- end ---" % output)
        print("FAIL: expected one summary naming rank %s, got %r" % (slow, lines))
        return 1
    print("OK: " + lines[0])
    return 0


def check_phases(kolorun, workdir, kolorun_args):
    import phase_checks
    return phase_checks.check_phases(kolorun, workdir, kolorun_args, start_job, wait_ready,
                                     finish_job, fail, NP)


MODES = {"straggler": check_straggler, "http": check_http, "file": check_file, "port_in_use": check_port_in_use,
         "prometheus": check_prometheus, "phases": check_phases}

if __name__ == "__main__":
    kolorun, mode, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    sys.exit(MODES[mode](kolorun, workdir, sys.argv[4:]))
