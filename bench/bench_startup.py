"""Start-up of the ks commands, as whole processes: the `ks` umbrella against the
command it runs, and (with --baseline) every command against another install.

* ``ks rtt --help`` vs ``ks-rtt --help`` (and ks query / ks-query): the umbrella's
  cost, target 1.0x (it imports only the command asked for, without typer).
* with ``--baseline BIN`` (a bin directory of another kernelsight install, e.g. one
  made from main with `make install PREFIX=/tmp/base BINDIR=/tmp/base/links`): each
  collector from exec to its first interval written (``-i 0.01 -c 1``: load, attach,
  one sample, detach), this install over that one; target 1.0x.

Runs alternate between the two sides, so a neighbour's load falls on both; medians.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(sys.executable).parent
COLLECTORS = ["ks-procfs", "ks-iolat", "ks-sched", "ks-rtt", "ks-syscalls", "ks-pagefaults", "ks-perf"]


def wall_ms(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - t) * 1000


def paired(a: list[str], b: list[str], runs: int) -> tuple[float, float]:
    """Median ms of ``a`` and of ``b``, run in turn ``runs`` times (one warm-up each)."""
    wall_ms(a), wall_ms(b)
    ta, tb = [], []
    for _ in range(runs):
        ta.append(wall_ms(a))
        tb.append(wall_ms(b))
    return statistics.median(ta), statistics.median(tb)


def line(label: str, a: float, b: float, a_name: str, b_name: str) -> None:
    print(f"{label:<34} {a_name} {a:6.1f} ms  {b_name} {b:6.1f} ms  ratio {a / b:.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="9 runs of each instead of 25")
    ap.add_argument("--bin", type=pathlib.Path, default=HERE, help="the install measured (default: this venv)")
    ap.add_argument("--baseline", type=pathlib.Path, help="bin directory of the install to compare with")
    args = ap.parse_args()
    runs = 9 if args.quick else 25
    ks = args.bin / "ks"
    print("the ks umbrella vs the command it runs (target 1.0x):")
    for name in ("rtt", "query", "procfs"):
        a, b = paired([str(ks), name, "--help"], [str(args.bin / f"ks-{name}"), "--help"], runs)
        line(f"ks {name} --help / ks-{name} --help", a, b, "ks", f"ks-{name}")
    if args.baseline:
        print(f"\nexec to one interval written, {args.bin} over {args.baseline} (target 1.0x):")
        for name in COLLECTORS:
            cmd = [name, "-i", "0.01", "-c", "1"]
            a, b = paired([str(args.bin / name), *cmd[1:]], [str(args.baseline / name), *cmd[1:]], runs)
            line(" ".join(cmd), a, b, "this", "base")
    return 0


if __name__ == "__main__":
    sys.exit(main())
