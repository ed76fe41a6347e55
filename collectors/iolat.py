"""ks-iolat: block I/O latency per disk, every interval, as `io_latency` events.

The BPF side (bpf/iolat.bpf.c) times each request from issue (or, with --queued,
from insertion into the I/O scheduler) to completion, keyed by the request itself,
and counts it into a histogram per (disk, read/write) that is never reset.  Every
interval this module reads how much each histogram grew and prints one event per
disk that did I/O.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from kernelsight.collectors import cgroups
from kernelsight.collectors.bpf_collector import BpfCollector
from kernelsight.collectors.decode import disk_name, kernel_dev
from kernelsight.collectors.runtime import EXIT_USAGE, Cgroup, Fatal, RunOptions, collector, warn
from kernelsight.ingest import histogram

DIRECTIONS = ("read", "write")
# --flags: the request flags the BPF side keeps, in its bit order (bpf/iolat.bpf.c
# rq_flag_bits), as biolatency -F names them.
FLAG_NAMES = ("sync", "meta", "prio", "fua", "preflush", "readahead", "background")
FLAG_SHIFT = 8

HELP = """\
Block I/O latency per disk: one `io_latency` JSON line per disk and interval.

Hooks tp_btf/block_rq_issue and block_rq_complete (with --queued also
block_rq_insert, so the time spent in the I/O scheduler counts).  Each event has
read/write counts and bytes, p50/p95/p99/max latency in microseconds and the
histograms (read_buckets, write_buckets) in kernelsight's one histogram scheme.
Flushes and discards are not counted (nor the data-less writes that only ask for
a cache flush, which /proc/diskstats counts as writes).  The kernel now and then
completes a request without running BPF for it (a few in ten thousand seen on
6.18); ks-iolat notices each one and says "N lost" on stderr.

With --cgroup, only that cgroup's requests, told one of two ways (said on
stderr at start). Where the kernel charges block I/O to the cgroup itself
(cgroup v2 with the io controller enabled for it; on a hybrid machine, a blkio
cgroup of the same path holding the same processes, as systemd and container
runtimes make), by the cgroup each request is charged to, read at issue: its
tasks' reads and writes, and on v2 (io + memory) the writeback of pages it
dirtied too.

Otherwise, by marking at block_io_start (in the submitter's context) the
requests its tasks submit: reads, direct I/O and writeback a task does itself
(fsync); the flusher threads' writeback is theirs. That costs one more BPF
program per I/O (bench/bench_iolat.py measures both ways).

With --flags, one event per disk and set of request flags (the `flags` field:
"sync", "sync,fua", "none"...), like biolatency -F: direct I/O is sync,
readahead and background writeback say so. The per-minute rollup sums a disk's
flag sets together.

\b
Examples:
  ks-iolat --device vda --interval 5
  ks-iolat --duration 60 | ks-ingest --db-path ks.db
"""


# ---- disks -------------------------------------------------------------------------
def resolve_disk(name: str) -> int:
    """--device NAME (vda, or /dev/vda) to the kernel dev_t of that whole disk."""
    name = os.path.basename(name)
    base = f"/sys/class/block/{name}"
    if not os.path.exists(base):
        disks = ", ".join(sorted(os.listdir("/sys/block"))) or "none"
        raise Fatal(f"no block device named {name!r} (disks here: {disks})", EXIT_USAGE)
    if os.path.exists(f"{base}/partition"):
        parent = os.path.basename(os.path.dirname(os.path.realpath(base)))
        raise Fatal(f"{name} is a partition; ks-iolat measures whole disks: use --device {parent}",
                    EXIT_USAGE)
    with open(f"{base}/dev") as f:
        major, minor = f.read().strip().split(":")
    return kernel_dev(int(major), int(minor))


# ---- histograms --------------------------------------------------------------------
Totals = tuple[int, int, list[int]]   # count, bytes, buckets: since the tracer started


def decode_value(raw: bytes) -> Totals:
    """struct io_hist: count, bytes, then the bucket array."""
    words = memoryview(raw).cast("Q")
    return words[0], words[1], list(words[2:2 + histogram.NBUCKETS])


def decode_key(key: bytes) -> tuple[int, int]:
    """struct dev_dir: (kernel dev_t, 0 read / 1 write, with --flags' bits above)."""
    return int.from_bytes(key[:4], "little"), int.from_bytes(key[4:8], "little")


def flags_text(dir_bits: int) -> str:
    """The --flags part of a dev_dir.dir as text: "sync,fua", or "none"."""
    names = [n for i, n in enumerate(FLAG_NAMES) if dir_bits >> (FLAG_SHIFT + i) & 1]
    return ",".join(names) or "none"


class Growth:
    """What the never-reset kernel totals added since the previous call."""

    def __init__(self) -> None:
        self.prev: dict[bytes, Totals] = {}

    def interval(self, items: list[tuple[bytes, bytes]]) -> dict[tuple[int, int], Totals]:
        out = {}
        for key, raw in items:
            now = decode_value(raw)
            count0, bytes0, buckets0 = self.prev.get(key, (0, 0, None))
            self.prev[key] = now
            if now[0] == count0:
                continue
            buckets = now[2] if buckets0 is None else [a - b for a, b in zip(now[2], buckets0)]
            out[decode_key(key)] = (now[0] - count0, now[1] - bytes0, buckets)
        return out


def direction_fields(prefix: str, count: int, nbytes: int, buckets: list[int] | None) -> dict:
    h = {i: c for i, c in enumerate(buckets or ()) if c}
    s = histogram.summary(h, quantiles=(50, 95, 99))
    return {
        f"{prefix}_count": count, f"{prefix}_bytes": nbytes,
        f"{prefix}_p50_us": s["p50_us"], f"{prefix}_p95_us": s["p95_us"],
        f"{prefix}_p99_us": s["p99_us"], f"{prefix}_max_us": s["max_us"],
        f"{prefix}_buckets": histogram.sparse(h),
    }


def events_from(growth: dict[tuple[int, int], Totals], interval_ns: int,
                flags: bool = False) -> list[dict]:
    """One event per disk that did I/O in the interval (with flags: per disk and set
    of request flags), sorted by name."""
    per_key: dict[tuple[int, int], dict[int, Totals]] = {}
    for (dev, dir_bits), totals in growth.items():
        flag_bits = dir_bits & ~((1 << FLAG_SHIFT) - 1)
        per_key.setdefault((dev, flag_bits), {})[dir_bits & 1] = totals
    out = []
    for (dev, flag_bits), dirs in per_key.items():
        event = {"device": disk_name(dev), "interval_ns": interval_ns}
        if flags:
            event["flags"] = flags_text(flag_bits)
        for d, prefix in enumerate(DIRECTIONS):
            count, nbytes, buckets = dirs.get(d, (0, 0, None))
            event.update(direction_fields(prefix, count, nbytes, buckets))
        out.append(event)
    return sorted(out, key=lambda e: (e["device"], e.get("flags", "")))


def interval_counters(events: list[dict]) -> str:
    """What -v says of an interval: per disk, the I/Os completed and their bytes."""
    if not events:
        return "no I/O completed"
    return "; ".join(f"{e['device']} {e['read_count']:,} reads {e['read_bytes']:,} B, "
                     f"{e['write_count']:,} writes {e['write_bytes']:,} B" for e in events)


def report_unfinished(slots) -> None:
    """Say how many starts are left in the slot table at exit (struct slot: rq, then
    ts): requests still in flight, or whose completion the kernel never passed to
    BPF.  Either way they are not in the counts.  The table is 65536 slots: read as one
    run of 64-bit words (the start is the second of each slot's), not slot by slot."""
    starts = memoryview(slots.values_raw()).cast("Q")[1::slots.buf_size // 8]
    left = len(starts) - starts.tolist().count(0)
    if left:
        warn(f"{left} lost: I/O requests issued but not seen completing by exit "
             "(still in flight, or completions the kernel did not pass to BPF)")


# ---- the command -------------------------------------------------------------------
def cgroup_filter(cgroup: str, mark: bool | None = None) -> tuple[dict, str]:
    """(rodata, what is counted) for --cgroup: by the cgroup the requests are charged
    to, where the kernel charges I/O to this very cgroup (no extra program: cheap),
    else by marking at block_io_start what its tasks submit (bpf/iolat.bpf.c).
    `mark` forces one way (the bench measures both)."""
    directory, cgid = cgroups.resolve(cgroup)
    charged = None if mark else cgroups.io_cgroup(directory)
    if charged:
        v1 = f" (on cgroup v1 here: the blkio cgroup {charged[0]})" if charged[0] != directory else ""
        return {"targ_blkcg": charged[1]}, f"the block I/O charged to {cgroup}{v1}"
    if mark is False:
        raise Fatal(f"--cgroup {cgroup}: its block I/O is not charged to it")
    return {"targ_cgid": cgid}, (
        f"the block I/O that {cgroup}'s tasks submit, marked at block_io_start, since the "
        f"kernel does not charge I/O to it ({_charge_hint(directory)})")


def _charge_hint(directory: str) -> str:
    """How to have the kernel charge a cgroup's I/O to it, and what that brings."""
    blkio = cgroups.controller_root("blkio")
    if blkio and blkio not in cgroups.v2_mounts():
        return (f"blkio is on cgroup v1 here: a blkio cgroup of the same path under {blkio} "
                "holding the same processes would be told at less cost per I/O")
    return (f"echo +io > {os.path.dirname(directory)}/cgroup.subtree_control would charge it, "
            "count its writeback too, and cost less per I/O")


def bpf_options(device: str | None, queued: bool, cgroup: dict | None = None,
                flags: bool = False) -> tuple[dict, dict]:
    """(rodata, autoload) of the BPF object for these options (the bench uses them
    too); `cgroup` is cgroup_filter's rodata."""
    rodata: dict[str, int | bytes] = {"targ_queued": int(queued), "targ_flags": int(flags),
                                      **(cgroup or {})}
    if device:
        rodata["targ_dev"] = resolve_disk(device)
    return rodata, {"rq_insert": queued, "io_start": "targ_cgid" in rodata}


def run(opts: RunOptions, device: str | None, queued: bool, cgroup: str | None = None,
        flags: bool = False) -> None:
    by_cgroup = None
    if cgroup:
        by_cgroup, counted = cgroup_filter(cgroup)
        warn(f"--cgroup: counting {counted}")
    rodata, autoload = bpf_options(device, queued, by_cgroup, flags)
    with BpfCollector("ks-iolat", "iolat", opts, rodata=rodata, autoload=autoload) as bc:
        hists, growth = bc.map("hists"), Growth()

        def sample() -> None:
            events = events_from(growth.interval(hists.items()), bc.runner.interval_ns, flags)
            for event in events:
                bc.emitter.emit("io_latency", event)
            if opts.verbose:
                warn(f"interval {bc.runner.samples + 1}: {interval_counters(events)}")

        bc.run(sample)
        report_unfinished(bc.map("slots"))


@collector(HELP)
def main(
    opts: RunOptions, *,
    device: Annotated[Optional[str], typer.Option(
        "--device", "-D", help="Only this whole disk (e.g. vda); default: every disk.")] = None,
    queued: Annotated[bool, typer.Option(
        "--queued", "-Q", help="Start timing when the request enters the I/O scheduler "
                               "(block_rq_insert) instead of at issue to the driver "
                               "(needs the disk's queue/iostats on, the default).")] = False,
    cgroup: Cgroup = None,
    flags: Annotated[bool, typer.Option(
        "--flags", "-F", help="One event per disk and set of request flags (sync, meta, prio, "
        "fua, preflush, readahead, background; 'none'), as biolatency -F.")] = False,
) -> None:
    run(opts, device, queued, cgroup, flags)


if __name__ == "__main__":
    main()
