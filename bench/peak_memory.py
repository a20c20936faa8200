"""The peak memory of one child process running a ``manage.py`` command, shared by the benches
and the tests that bound it.

The child reports its own high-water mark (``VmHWM`` of ``/proc/self/status``) when it exits:
``getrusage``'s ``ru_maxrss`` of a child keeps, across ``exec``, the resident size of the forked
copy of the parent (a large test process), so it cannot be used.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    sys.stderr.write('PEAK ' + re.search(r'VmHWM:\\s+(\\d+)', status).group(1) + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['manage.py', *sys.argv[1:]]\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)


def command_peak(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[int, str]:
    """Peak RSS (bytes) of a child ``manage.py *args`` and what it printed (stripped).

    ``env`` replaces entries of this process's environment (a test's database URL, say).
    """
    done = subprocess.run(  # noqa: S603 - the arguments are the caller's own
        [sys.executable, "-c", _CHILD, *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    peak = re.search(r"^PEAK (\d+)$", done.stderr, re.MULTILINE)
    return int(peak.group(1)) * 1024, done.stdout.strip()


def ingest_peak(
    path: Path | str, *, department: str = "hrss", env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Peak RSS (bytes) of a child ``manage.py ingest_feed PATH`` and its report line."""
    return command_peak(
        "ingest_feed", str(path), "--department", department, "--verbosity", "0", env=env
    )


def process_peak(pid: int) -> int:
    """The high-water mark (bytes) of a running process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) * 1024
