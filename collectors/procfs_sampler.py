"""One sample of every /proc metric ks-procfs reports, as ks events (the library part).

``ProcfsSampler.sample(emit)`` reads each file once, parses it with procfs_parse and
calls ``emit(type, fields, timestamp)`` per event.  Files stay open between samples
and are re-read from offset 0 with pread, so a sample of everything costs about two
system calls per file (the data, then the empty read that says it ended).  A file that cannot be read or parsed is skipped with one
warning for its kind; the other kinds go on.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Callable

from . import procfs_parse as P
from .sockdiag import SockDiag, count_with_currestab

KINDS = ("memory", "load", "block", "network", "tcp", "tcp_retrans", "cpu", "pressure")
PSI_RESOURCES = ("cpu", "memory", "io")
TCP_SOURCES = ("auto", "netlink", "proc")

Emit = Callable[[str, dict, int], None]
READ_SIZE = 1 << 16  # /proc/stat of a 256-CPU machine fits; bigger files take more reads


class ProcFiles:
    """Open-once, pread-from-zero access to files under a proc root."""

    def __init__(self, root: str = "/proc"):
        self.root = root
        self.fds: dict[str, int] = {}

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def read(self, rel: str) -> bytes:
        fd = self.fds.get(rel)
        if fd is None:
            fd = self.fds[rel] = os.open(self.path(rel), os.O_RDONLY | os.O_CLOEXEC)
        # seq_file hands out about a page of records per read whatever the buffer size
        # (/proc/net/tcp, diskstats with many devices), so read on to the empty read.
        size = READ_SIZE
        try:
            data = os.pread(fd, size, 0)
            if not data:
                return data
            chunks = [data]
            offset = len(data)
            while chunk := os.pread(fd, size, offset):
                chunks.append(chunk)
                offset += len(chunk)
            if len(chunks) > 1:
                data = b"".join(chunks)
            return data
        except OSError:
            self.forget(rel)
            raise

    def forget(self, rel: str) -> None:
        fd = self.fds.pop(rel, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for rel in list(self.fds):
            self.forget(rel)


class ProcfsSampler:
    def __init__(self, kinds=KINDS, proc_root: str = "/proc", all_devices: bool = False,
                 tcp_source: str = "auto", warn: Callable[[str], None] = print):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds: {', '.join(sorted(unknown))}")
        self.kinds = tuple(k for k in KINDS if k in kinds)
        self.files = ProcFiles(proc_root)
        self.all_devices = all_devices
        self.warn = warn
        self.warned: set[str] = set()
        self.failures: dict[str, int] = {}      # kind -> times it was (partly) skipped
        self.skipped = P.Skipped()              # malformed lines, all kinds
        self.prev_cpu: dict[int, tuple[int, ...]] | None = None
        self.live_proc = os.path.realpath(proc_root) == "/proc"
        self.partitions: dict[str, bool] = {}   # device name -> is a partition
        self._snmp: bytes | None = None
        self.sockdiag: SockDiag | None = None
        self.tcp_source = self._pick_tcp_source(tcp_source) if "tcp" in self.kinds else None
        self._handlers = {
            "memory": self._memory, "load": self._load, "block": self._block,
            "network": self._network, "tcp": self._tcp, "tcp_retrans": self._tcp_retrans,
            "cpu": self._cpu, "pressure": self._pressure,
        }

    # ---- life cycle ---------------------------------------------------------------
    def prime(self) -> None:
        """Take the first /proc/stat reading so that the first cpu sample covers a real interval."""
        if "cpu" in self.kinds:
            try:
                self.prev_cpu = P.parse_stat_cpus(self.files.read("stat"))
            except (OSError, ValueError, IndexError):
                pass  # the first sample will warn

    def close(self) -> None:
        self.files.close()
        if self.sockdiag is not None:
            self.sockdiag.close()

    def sample(self, emit: Emit, timestamp: int | None = None) -> None:
        ts = timestamp or time.time_ns()
        self._snmp = None  # read at most once a sample, shared by tcp and tcp_retrans
        for kind in self.kinds:
            try:
                self._handlers[kind](emit, ts)
            except (OSError, ValueError, IndexError, KeyError) as e:
                self._failed(kind, e)

    # ---- problems: said once, counted always --------------------------------------
    def _failed(self, kind: str, e: Exception) -> None:
        """Counted every time, said once per kind (the first problem is the one told)."""
        self.failures[kind] = self.failures.get(kind, 0) + 1
        self.say_once(kind, f"{kind}: {_describe(e)}; skipping it")

    def say_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.warn(message)

    def _read(self, rel: str) -> bytes:
        try:
            return self.files.read(rel)
        except OSError as e:
            raise OSError(e.errno, f"cannot read {self.files.path(rel)}: "
                          f"{os.strerror(e.errno or 0)}") from None

    # ---- the kinds ----------------------------------------------------------------
    def _memory(self, emit: Emit, ts: int) -> None:
        emit("memory", P.parse_meminfo(self._read("meminfo")), ts)

    def _load(self, emit: Emit, ts: int) -> None:
        emit("load", P.parse_loadavg(self._read("loadavg")), ts)

    def _block(self, emit: Emit, ts: int) -> None:
        data = self._read("diskstats")
        is_partition = self._is_partition if self.live_proc else P.looks_like_partition
        for event in P.parse_diskstats(data, is_partition, self.all_devices, self.skipped):
            emit("block", event, ts)

    def _is_partition(self, name: str) -> bool:
        """Asked of sysfs once per device name (a name never changes between disk and partition)."""
        known = self.partitions.get(name)
        if known is None:
            sysdir = f"/sys/class/block/{name.replace('/', '!')}"
            known = (os.path.exists(f"{sysdir}/partition") if os.path.isdir(sysdir)
                     else P.looks_like_partition(name))
            self.partitions[name] = known
        return known

    def _network(self, emit: Emit, ts: int) -> None:
        for event in P.parse_net_dev(self._read("net/dev"), self.skipped):
            emit("network", event, ts)

    def _read_snmp(self) -> bytes:
        if self._snmp is None:
            self._snmp = self._read("net/snmp")
        return self._snmp

    def _tcp_retrans(self, emit: Emit, ts: int) -> None:
        snmp = self._read_snmp()
        try:
            netstat = self._read("net/netstat")
        except OSError as e:  # the Tcp table alone is still worth reporting
            self.failures["tcp_retrans"] = self.failures.get("tcp_retrans", 0) + 1
            self.say_once("tcp_retrans", f"tcp_retrans: {_describe(e)}; reporting the "
                          "net/snmp counters only")
            netstat = None
        emit("tcp_retrans", P.parse_tcp_retrans(snmp, netstat), ts)

    def _cpu(self, emit: Emit, ts: int) -> None:
        cur = P.parse_stat_cpus(self._read("stat"))
        prev, self.prev_cpu = self.prev_cpu, cur
        if prev is None:
            return  # nothing to compare with yet
        for cpu, ticks in cur.items():
            before = prev.get(cpu)
            if before is None:
                continue  # a CPU that just came online
            pct = P.cpu_percentages(before, ticks)
            if pct is not None:
                emit("cpu", {"cpu": cpu, **pct}, ts)

    def _pressure(self, emit: Emit, ts: int) -> None:
        for resource in PSI_RESOURCES:
            rel = f"pressure/{resource}"
            try:
                fields = P.parse_pressure(self._read(rel))
            except (OSError, ValueError) as e:
                if isinstance(e, OSError) and e.errno == errno.ENOENT \
                        and not os.path.isdir(self.files.path("pressure")):
                    self.failures["pressure"] = self.failures.get("pressure", 0) + 1
                    self.say_once("pressure", f"pressure: no {self.files.path('pressure')} "
                                  "(a kernel built without CONFIG_PSI, or booted with psi=0); "
                                  "skipping it")
                    return
                self._failed("pressure", e)
                continue
            emit("pressure", {"resource": resource, **fields}, ts)

    # ---- tcp states ---------------------------------------------------------------
    def _pick_tcp_source(self, wanted: str) -> str:
        if wanted not in TCP_SOURCES:
            raise ValueError(f"unknown tcp source {wanted!r}")
        if wanted == "proc" or (wanted == "auto" and not self.live_proc):
            return "proc"
        try:
            self.sockdiag = SockDiag()
            return "netlink"
        except OSError as e:
            if wanted == "netlink":
                raise
            self._netlink_refused(e)
            return "proc"

    def _netlink_refused(self, e: OSError) -> None:
        self.say_once("tcp:netlink", f"tcp: sock_diag netlink refused ({_describe(e)}); counting "
                      "from /proc/net/tcp and tcp6 instead, which is slow with many sockets")

    def _tcp(self, emit: Emit, ts: int) -> None:
        counts = self._tcp_from_netlink() if self.tcp_source == "netlink" else None
        if counts is None:
            counts = self._tcp_from_proc()
        emit("tcp", P.tcp_counts_to_event(counts), ts)

    def _tcp_from_netlink(self) -> list[int] | None:
        try:
            curr_estab = self._curr_estab()
        except (OSError, ValueError, KeyError):
            curr_estab = None  # no Tcp CurrEstab: dump the established sockets too
        try:
            if curr_estab is None:
                return self.sockdiag.count()
            return count_with_currestab(self.sockdiag, curr_estab)
        except OSError as e:
            self.sockdiag.close()
            self.sockdiag, self.tcp_source = None, "proc"
            self._netlink_refused(e)
            return None

    def _curr_estab(self) -> int:
        return P.parse_snmp_table(self._read_snmp(), b"Tcp: ", {b"CurrEstab": "n"})["n"]

    def _tcp_from_proc(self) -> list[int]:
        counts = [0] * 13
        P.count_proc_net_tcp(self._read("net/tcp"), counts)
        try:
            P.count_proc_net_tcp(self._read("net/tcp6"), counts)
        except OSError as e:
            if e.errno != errno.ENOENT:  # no tcp6 file: IPv6 is off, nothing is missing
                raise
        return counts


def _describe(e: Exception) -> str:
    if isinstance(e, OSError):
        return e.strerror or str(e)
    return f"unexpected contents ({e})"
