"""Peak memory of ``manage.py ingest_feed`` on hostile files up to the feed size limit.

A child process ingests (a) a header-only file, the baseline of the command itself, (b) a file
of --mb megabytes made of 50 MB lines (each a rejected row, ``line_too_long``) between ordinary
rows, unquoted (split where the file is stored) and quoted (read by the worker line by line),
and (c) --rows rows that the SQL checks reject: lines with a missing column (split where the
file is stored, ``wrong_column_count``) and well-formed rows of persons the library does not
hold (``unknown_person``). Each child's own high-water mark (``VmHWM``, bench/peak_memory.py)
is printed with the load average, and the difference to the baseline: what the file itself
costs. Needs a migrated database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/bench_feed_memory.py \
        --mb 512 --rows 200000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peak_memory import ingest_peak
from population.identity import build_citizen_id

HEADER = b"record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"


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


def unknown_citizen_id(i: int) -> str:
    """A valid citizen ID of nobody in the library (born 1900-, a county of Beijing)."""
    born = dt.date(1900, 1, 1) + dt.timedelta(days=i // 1000)
    return build_citizen_id("110105", born, i % 1000)


def write_rejected_rows(path: Path, rows: int, *, kind: str, offset: int = 0) -> None:
    """``rows`` lines the SQL checks reject: one column short, or an unknown person."""
    with path.open("wb") as f:
        f.write(HEADER)
        for i in range(offset, offset + rows):
            cid = unknown_citizen_id(i)
            if kind == "wrong_columns":
                f.write(f"W{i},{cid},测试,某公司,9,2024-01-01\n".encode())
            else:
                f.write(f"U{i},{cid},测试,某公司,91440700MA00000000,2024-01-01,\n".encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512, help="file size in MB (the limit: 512)")
    parser.add_argument(
        "--rows", type=int, default=200_000, help="rows of the SQL-rejected files (0: skip)"
    )
    parser.add_argument("--skip-long-lines", action="store_true", help="only the --rows cases")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("set DATABASE_URL to a migrated database")
    with tempfile.TemporaryDirectory() as tmp:
        base_file = Path(tmp) / "employment_header.csv"
        base_file.write_bytes(HEADER)
        base, _ = ingest_peak(base_file)
        print(f"baseline (header only): {base / 2**20:.0f} MiB  load {os.getloadavg()[0]:.1f}")
        cases = [] if args.skip_long_lines else [("plain ", False), ("quoted", True)]
        for name, quoted in cases:
            path = Path(tmp) / f"employment_{name.strip()}_{args.mb}.csv"
            write_file(path, args.mb, quoted=quoted)
            report(name, path, base)
        if args.rows:
            # A fresh range of IDs per run: the same file twice would be the same batch.
            offset = int(time.time()) % 1000 * 1_000_000
            for kind in ("wrong_columns", "unknown"):
                path = Path(tmp) / f"employment_{kind}_{args.rows}.csv"
                write_rejected_rows(path, args.rows, kind=kind, offset=offset)
                report(f"{kind} {args.rows} rows", path, base)


def report(name: str, path: Path, base: int) -> None:
    size = path.stat().st_size
    started = time.perf_counter()
    peak, report = ingest_peak(path)
    seconds = time.perf_counter() - started
    path.unlink()
    print(
        f"{name} {size / 2**20:.0f} MB: peak "
        f"{peak / 2**20:.0f} MiB, file adds {(peak - base) / 2**20:.0f} MiB, "
        f"{seconds:.1f} s, load {os.getloadavg()[0]:.1f}; {report}"
    )


if __name__ == "__main__":
    main()
