"""What the scripts that start whole jobs share (they import neither kolo nor numpy, so they run
from a plain checkout): run one launcher command and take a figure from its output."""

import subprocess
import sys


def run_for_figure(cmd, pattern, label, timeout, group=1):
    """Runs `cmd`, returns float(match.group(group)) of compiled regex `pattern` in its output;
    exits naming `label`, the exit status and the output's tail when the run fails or prints no
    such line."""
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=timeout)
    found = pattern.search(out.stdout)
    if out.returncode != 0 or not found:
        sys.exit("%s failed (exit %d):\n%s" % (label, out.returncode, out.stdout[-3000:]))
    return float(found.group(group))
