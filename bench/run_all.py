"""Run every benchmark in bench/ in turn (each prints its own ratio table)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in sorted(HERE.glob("bench_*.py")):
    print(f"\n=== {script.name} ===", flush=True)
    subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=True, cwd=HERE)  # noqa: S603
