"""Pure parsers for the /proc files ks-procfs reads: bytes in, plain values out.

They run every second forever, so each one makes one pass over the file's bytes
with str methods (split/partition), no regexes per line and no intermediate objects
beyond what the event needs.  Nothing here touches the file system: the tests feed
them recorded files, including damaged ones.

Every parser raises ValueError on input it cannot make sense of as a whole; single
malformed lines are skipped and counted in ``Skipped`` so the caller can say so.

Which field of a file lands in which column is the registry's: each column names
its ``source`` in ingest/events.py, and the maps below are built from those once, at
import.  What is written here is only each file's own layout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from kernelsight.ingest import events as ev


def _sources(event_type: str) -> dict[str, str]:
    """source -> column, for the columns of ``event_type`` that name one."""
    return {c.source: c.name for c in ev.BY_NAME[event_type].columns if c.source}


# ---- meminfo ----------------------------------------------------------------------
MEMINFO_COLUMNS = {key.encode(): col for key, col in _sources("memory").items()}


@dataclass
class Skipped:
    """Lines a parser could not read, so that nothing disappears silently."""
    lines: int = 0


def parse_meminfo(data: bytes) -> dict:
    out = {}
    want = MEMINFO_COLUMNS
    for line in data.split(b"\n"):
        key, _, rest = line.partition(b":")
        column = want.get(key)
        if column is not None:
            out[column] = int(rest.split()[0])
    if "mem_total_kb" not in out:
        raise ValueError("no MemTotal line")
    return out


# ---- loadavg ----------------------------------------------------------------------
def parse_loadavg(data: bytes) -> dict:
    one, five, fifteen, tasks, last_pid = data.split()[:5]
    running, _, total = tasks.partition(b"/")
    return {
        "load_1min": float(one), "load_5min": float(five), "load_15min": float(fifteen),
        "running_processes": int(running), "total_processes": int(total),
        "last_pid": int(last_pid),
    }


# ---- diskstats --------------------------------------------------------------------
# A line: major, minor, name, then fields 1-11 (iostats.rst), which the columns name.
_DISK = _sources("block")
BLOCK_COLUMNS = tuple(_DISK[f"field {i}"] for i in range(1, len(_DISK) + 1))
# Virtual devices that exist by the dozen and mostly sit unused.
IDLE_PREFIXES = (b"loop", b"ram", b"zram")


def looks_like_partition(name: str) -> bool:
    """Name-only guess, for when /sys/block cannot be listed: sda1, vda2, nvme0n1p1, mmcblk0p1."""
    if not name[-1:].isdigit():
        return False
    stem = name.rstrip("0123456789")
    if stem.endswith("p") and stem[:-1][-1:].isdigit():   # nvme0n1p1, mmcblk0p1
        return True
    return stem[:2] in ("sd", "vd", "hd", "xv") and stem.isalpha()


def parse_diskstats(data: bytes, is_partition: Callable[[str], bool] = looks_like_partition,
                    all_devices: bool = False, skipped: Skipped | None = None) -> list[dict]:
    """One dict per device; partitions and idle loop/ram devices left out unless all_devices.

    ``is_partition`` answers from /sys/class/block on a live system; the default guesses
    from the name.
    """
    out = []
    for line in data.split(b"\n"):
        f = line.split()
        if len(f) < 14:
            if f and skipped is not None:
                skipped.lines += 1
            continue
        name = f[2].decode()
        values = f[3:14]
        if not all_devices:
            if f[2].startswith(IDLE_PREFIXES) and values[0] == b"0" and values[4] == b"0":
                continue
            if is_partition(name):
                continue
        event = {"device_name": name}
        try:
            event.update(zip(BLOCK_COLUMNS, map(int, values)))
        except ValueError:
            if skipped is not None:
                skipped.lines += 1
            continue
        out.append(event)
    return out


# ---- net/dev ----------------------------------------------------------------------
# The fields after "name:", as the file's two header lines name them.
NET_DEV_FIELDS = tuple(f"{way} {f}" for way, fields in (
    ("Receive", "bytes packets errs drop fifo frame compressed multicast"),
    ("Transmit", "bytes packets errs drop fifo colls carrier compressed")) for f in fields.split())
_NET = _sources("network")
NET_DEV_COLUMNS = tuple((_NET[f], i) for i, f in enumerate(NET_DEV_FIELDS) if f in _NET)  # (column, field index)


def parse_net_dev(data: bytes, skipped: Skipped | None = None) -> list[dict]:
    out = []
    for line in data.split(b"\n")[2:]:
        name, sep, rest = line.partition(b":")
        if not sep:
            if line.strip() and skipped is not None:
                skipped.lines += 1
            continue
        v = rest.split()
        event = {"interface_name": name.strip().decode()}
        try:
            for column, i in NET_DEV_COLUMNS:
                event[column] = int(v[i])
            out.append(event)
        except (ValueError, IndexError):
            if skipped is not None:
                skipped.lines += 1
    return out


# ---- net/snmp and net/netstat -----------------------------------------------------
def _snmp_fields(table: str) -> dict[bytes, str]:
    """field -> column, for the columns whose source is "<table> <field>"."""
    out = {}
    for source, column in _sources("tcp_retrans").items():
        prefix, _, field = source.partition(" ")
        if prefix == table:
            out[field.encode()] = column
    return out


SNMP_TCP = _snmp_fields("Tcp")
NETSTAT_TCPEXT = _snmp_fields("TcpExt")


def parse_snmp_table(data: bytes, prefix: bytes, wanted: dict[bytes, str]) -> dict:
    """The two-line 'Prefix: names' / 'Prefix: values' tables of net/snmp and net/netstat."""
    header = None
    for line in data.split(b"\n"):
        if not line.startswith(prefix):
            continue
        if header is None:
            header = line.split()
            continue
        values = line.split()
        if len(values) != len(header):
            raise ValueError(f"{prefix.decode()} header and values differ in length")
        return {wanted[k]: int(v) for k, v in zip(header, values) if k in wanted}
    raise ValueError(f"no {prefix.decode()} table")


def parse_tcp_retrans(snmp: bytes, netstat: bytes | None) -> dict:
    """Tcp counters from net/snmp, plus TcpExt from net/netstat when it could be read."""
    out = parse_snmp_table(snmp, b"Tcp: ", SNMP_TCP)
    if "retrans_segs" not in out:
        raise ValueError("no RetransSegs in the Tcp table")
    if netstat is not None:
        out.update(parse_snmp_table(netstat, b"TcpExt: ", NETSTAT_TCPEXT))
    return out


# ---- stat (cpu) -------------------------------------------------------------------
# The first 8 jiffy counters of a cpu line, in the file's order (proc(5)).
STAT_CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
_CPU = _sources("cpu")
CPU_COLUMNS = tuple(_CPU[f] for f in STAT_CPU_FIELDS)


def parse_stat_cpus(data: bytes) -> dict[int, tuple[int, ...]]:
    """cpu -> the first 8 jiffy counters (user..steal); -1 is the whole machine.

    guest and guest_nice are left out: the kernel already counts them in user and nice.
    """
    out = {}
    for line in data.split(b"\n"):
        if not line.startswith(b"cpu"):
            if out:
                break  # the cpu lines come first and together
            continue
        f = line.split()
        cpu = -1 if f[0] == b"cpu" else int(f[0][3:])
        out[cpu] = tuple(map(int, f[1:9]))
    if -1 not in out:
        raise ValueError("no cpu line")
    return out


def cpu_percentages(prev: tuple[int, ...], cur: tuple[int, ...]) -> dict | None:
    """Shares of the time between two readings, in percent.

    A counter that went backwards (iowait does, on some kernels; a CPU that went
    offline and came back restarts from zero) counts as zero, never negative.
    None when no time passed (two readings in the same jiffy).
    """
    deltas = [c - p if c > p else 0 for p, c in zip(prev, cur)]
    total = sum(deltas)
    if total <= 0:
        return None
    scale = 100.0 / total
    return {name: round(d * scale, 2) for name, d in zip(CPU_COLUMNS, deltas)}


# ---- pressure ---------------------------------------------------------------------
def parse_pressure(data: bytes) -> dict:
    """PSI 'some' and 'full' lines; the cpu file has no 'full' line on older kernels."""
    out = {}
    for line in data.split(b"\n"):
        kind, _, rest = line.partition(b" ")
        if kind not in (b"some", b"full"):
            continue
        p = kind.decode()
        for field in rest.split():
            key, _, value = field.partition(b"=")
            if key == b"total":
                out[f"{p}_total_us"] = int(value)
            else:
                out[f"{p}_{key.decode()}"] = float(value)
    if "some_avg10" not in out:
        raise ValueError("no 'some' line")
    return out


# ---- net/tcp (the fallback when sock_diag is refused) -----------------------------
TCP_STATES = (None, "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",
              "time_wait", "close", "close_wait", "last_ack", "listen", "closing")


def empty_tcp_counts() -> dict:
    return {name: 0 for name in TCP_STATES[1:]}


def count_proc_net_tcp(data: bytes, counts: list[int]) -> None:
    """Add the sockets of one /proc/net/tcp or tcp6 file to ``counts`` (indexed by state).

    Lines are "%4d: LOCAL:PORT REMOTE:PORT ST ...", sl counting up from 0: the state is
    two hex digits at a fixed distance from the first colon (addresses are fixed-width
    per file), and the colon sits at 4 for lines 0-9999, 5 up to 99999, and so on.  So
    the states are slices at known columns, counted in C by Counter, not split lines
    (3x cheaper with 20,000 sockets).  A line out of place falls back to a search.
    """
    lines = data.split(b"\n")[1:]
    if lines and not lines[-1]:
        lines.pop()
    if not lines:
        return
    colon = lines[0].find(b":")
    gap = 2 + 2 * (lines[0].index(b" ", colon + 2) - colon - 1)   # ": " + 2 x "ADDR:PORT "
    tally: Counter = Counter()
    start, width = 0, 4
    while start < len(lines):
        end = min(len(lines), 10 ** width)
        chunk = lines[start:end]
        col = width + gap
        if chunk[0].find(b":") == width and chunk[-1].find(b":") == width:
            tally.update(line[col:col + 2] for line in chunk)
        else:  # not numbered as expected: look for each colon
            tally.update(line[line.find(b":") + gap:line.find(b":") + gap + 2] for line in chunk)
        start, width = end, width + 1
    for state, n in tally.items():
        try:
            i = int(state, 16)
        except ValueError:
            continue
        if i < len(counts):
            counts[i] += n


def tcp_counts_to_event(counts: list[int]) -> dict:
    out = {name: counts[i] for i, name in enumerate(TCP_STATES) if name}
    # The kernel's NEW_SYN_RECV (12) is a request socket: a SYN_RECV to the user.
    if len(counts) > 12:
        out["syn_recv"] += counts[12]
    return out
