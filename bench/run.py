"""`make bench`: runs every bench/bench_*.py in turn; each prints its own ratios.

Run one alone with `.venv/bin/python bench/bench_ingest.py` (or `make bench BENCH=ingest`);
`make bench QUICK=1` passes --quick to each (smaller workloads, a few minutes in all).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def main() -> int:
    only = os.environ.get("BENCH")
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if only and name not in only.split(","):
            continue
        print(f"\n===== {name} =====", flush=True)
        extra = ["--quick"] if os.environ.get("QUICK") else []
        if subprocess.call([sys.executable, str(script), *extra]) != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
