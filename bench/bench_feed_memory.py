"""Peak memory of ``manage.py ingest_feed`` on hostile files up to the feed size limit.

A child process ingests (a) a header-only file, the baseline of the command itself, and (b) a
file of --mb megabytes made of 50 MB lines (each a rejected row, ``line_too_long``) between
ordinary rows, unquoted (split where the file is stored) and quoted (read by the worker line
by line). Each child's own high-water mark (``VmHWM``) is printed with the load average, and
the difference to the baseline: what the file itself costs. Needs a migrated database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/bench_feed_memory.py \
        --mb 512
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = b"record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"
CHILD = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    sys.stderr.write('PEAK ' + re.search(r'VmHWM:\\s+(\\d+)', status).group(1) + '\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['manage.py', 'ingest_feed', sys.argv[1], '--department', 'hrss',"
    " '--verbosity', '0']\n"
    "runpy.run_path('manage.py', run_name='__main__')\n"
)


def write_file(path: Path, megabytes: int, *, quoted: bool) -> None:
    line = 50 << 20
    with path.open("wb") as f:
        f.write(HEADER)
        written, n = 0, 0
        while written + line < megabytes << 20:
            big = b"x" * line
            f.write(f"H{n},11010519491231002X,测试,".encode())
            f.write(b'"' + big + b'"' if quoted else big)
            f.write(b",91440700MA00000000,2024-01-01,\n")
            for i in range(100):
                employer = '"某,公司"' if quoted else "某公司"
                f.write(f"E{n}-{i},11010519491231002X,测试,{employer},9,2024-01-01,\n".encode())
            written, n = written + line, n + 1


def ingest(path: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", CHILD, str(path)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    peak = int(re.search(r"PEAK (\d+)", done.stderr).group(1)) * 1024
    return peak, time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512, help="file size in MB (the limit: 512)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("set DATABASE_URL to a migrated database")
    with tempfile.TemporaryDirectory() as tmp:
        base_file = Path(tmp) / "employment_header.csv"
        base_file.write_bytes(HEADER)
        base, _, _ = ingest(base_file)
        print(f"baseline (header only): {base / 2**20:.0f} MiB  load {os.getloadavg()[0]:.1f}")
        for quoted in (False, True):
            path = Path(tmp) / f"employment_{'quoted' if quoted else 'plain'}_{args.mb}.csv"
            write_file(path, args.mb, quoted=quoted)
            size = path.stat().st_size
            peak, seconds, report = ingest(path)
            path.unlink()
            print(
                f"{'quoted' if quoted else 'plain '} {size / 2**20:.0f} MB: peak "
                f"{peak / 2**20:.0f} MiB, file adds {(peak - base) / 2**20:.0f} MiB, "
                f"{seconds:.1f} s, load {os.getloadavg()[0]:.1f}; {report}"
            )


if __name__ == "__main__":
    main()
