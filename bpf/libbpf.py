"""A thin ctypes binding to the system libbpf (libbpf.so.1): just what ks collectors use.

    with BpfObject("rtt", rodata={"targ_port": 443}) as obj:
        obj.load()
        obj.attach()
        hist = obj.map("rtt_hist_map")
        for key, value in hist.items(): ...

Objects are the CO-RE ``bpf/<name>.bpf.o`` files that ship in this package, so no
compiler is needed at run time.  Errors become :class:`BpfError` (bpf/errors.py) with
a message that says what failed and what to do.
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
import pathlib
import re
import struct
import time
from typing import Callable, Iterator

from kernelsight.bpf import sysnr
from kernelsight.bpf.errors import EXIT_ERROR, EXIT_NOPERM, EXIT_UNAVAILABLE, BpfError

HERE = pathlib.Path(__file__).resolve().parent

BPF_ANY = 0
BTF_KIND_ENUM = 6
BTF_KIND_VAR = 14
BTF_KIND_DATASEC = 15
BTF_KIND_ENUM64 = 19
LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2
CAP_PERFMON, CAP_BPF, CAP_SYS_ADMIN = 38, 39, 21


def _load_libbpf() -> ct.CDLL:
    try:
        return ct.CDLL("libbpf.so.1", use_errno=True)
    except OSError as e:
        raise BpfError(f"cannot load libbpf.so.1 ({e}); install it: apt-get install libbpf1",
                       EXIT_UNAVAILABLE) from None


lib = _load_libbpf()
libc = ct.CDLL(None, use_errno=True)

_p = ct.c_void_p


def _fn(name: str, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


PRINT_FN = ct.CFUNCTYPE(ct.c_int, ct.c_int, ct.c_char_p, ct.c_void_p)
SAMPLE_FN = ct.CFUNCTYPE(ct.c_int, ct.c_void_p, ct.c_void_p, ct.c_size_t)

_fn("libbpf_set_print", _p, PRINT_FN)
_fn("libbpf_num_possible_cpus", ct.c_int)
_fn("bpf_object__open_file", _p, ct.c_char_p, _p)
_fn("bpf_object__load", ct.c_int, _p)
_fn("bpf_object__close", None, _p)
_fn("bpf_object__btf", _p, _p)
_fn("bpf_object__next_program", _p, _p, _p)
_fn("bpf_object__next_map", _p, _p, _p)
_fn("bpf_object__find_map_by_name", _p, _p, ct.c_char_p)
_fn("bpf_program__name", ct.c_char_p, _p)
_fn("bpf_program__section_name", ct.c_char_p, _p)
_fn("bpf_program__fd", ct.c_int, _p)
_fn("bpf_program__autoload", ct.c_bool, _p)
_fn("bpf_program__set_autoload", ct.c_int, _p, ct.c_bool)
_fn("bpf_program__attach", _p, _p)
_fn("bpf_program__attach_perf_event", _p, _p, ct.c_int)
_fn("bpf_link__destroy", ct.c_int, _p)
_fn("bpf_map__name", ct.c_char_p, _p)
_fn("bpf_map__fd", ct.c_int, _p)
_fn("bpf_map__type", ct.c_int, _p)
_fn("bpf_map__key_size", ct.c_uint32, _p)
_fn("bpf_map__value_size", ct.c_uint32, _p)
_fn("bpf_map__max_entries", ct.c_uint32, _p)
_fn("bpf_map__set_max_entries", ct.c_int, _p, ct.c_uint32)
_fn("bpf_map__initial_value", _p, _p, ct.POINTER(ct.c_size_t))
_fn("bpf_map__pin", ct.c_int, _p, ct.c_char_p)
_fn("bpf_map__unpin", ct.c_int, _p, ct.c_char_p)
_fn("bpf_map_lookup_elem", ct.c_int, ct.c_int, _p, _p)
_fn("bpf_map_update_elem", ct.c_int, ct.c_int, _p, _p, ct.c_uint64)
_fn("bpf_map_delete_elem", ct.c_int, ct.c_int, _p)
_fn("bpf_map_get_next_key", ct.c_int, ct.c_int, _p, _p)
_fn("bpf_map_lookup_batch", ct.c_int, ct.c_int, _p, _p, _p, _p, ct.POINTER(ct.c_uint32), _p)
_fn("bpf_map_lookup_and_delete_batch", ct.c_int, ct.c_int, _p, _p, _p, _p,
    ct.POINTER(ct.c_uint32), _p)
_fn("bpf_obj_get", ct.c_int, ct.c_char_p)
_fn("bpf_obj_get_info_by_fd", ct.c_int, ct.c_int, _p, ct.POINTER(ct.c_uint32))
_fn("btf__load_vmlinux_btf", _p)
_fn("btf__free", None, _p)
_fn("btf__find_by_name_kind", ct.c_int32, _p, ct.c_char_p, ct.c_uint32)
_fn("btf__type_by_id", _p, _p, ct.c_uint32)
_fn("btf__name_by_offset", ct.c_char_p, _p, ct.c_uint32)
_fn("ring_buffer__new", _p, ct.c_int, SAMPLE_FN, _p, _p)
_fn("ring_buffer__poll", ct.c_int, _p, ct.c_int)
_fn("ring_buffer__consume", ct.c_int, _p)
_fn("ring_buffer__free", None, _p)
libc.vsnprintf.argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p, ct.c_void_p]
libc.vsnprintf.restype = ct.c_int


# ---- libbpf's log: kept, shown on failure or with --verbose ----------------------------
class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.echo = False
        self._cb = PRINT_FN(self._print)
        lib.libbpf_set_print(self._cb)

    def _print(self, level: int, fmt: bytes, args: int) -> int:
        if level == LIBBPF_DEBUG and not self.echo:
            return 0
        buf = ct.create_string_buffer(8192)
        libc.vsnprintf(buf, len(buf), fmt, args)
        text = buf.value.decode(errors="replace")
        self.lines.extend(text.rstrip("\n").split("\n"))
        del self.lines[:-400]  # a verifier log can be huge; its tail is what matters
        if self.echo:
            os.write(2, text.encode())
        return 0

    def mark(self) -> int:
        return len(self.lines)

    def since(self, mark: int) -> list[str]:
        return self.lines[mark:] if mark <= len(self.lines) else self.lines


LOG = _Log()


def _errno_error(what: str, err: int | None = None) -> BpfError:
    err = err or ct.get_errno() or errno.EINVAL
    err = abs(err)
    if err in (errno.EPERM, errno.EACCES):
        return BpfError(f"{what}: {os.strerror(err)}; {PRIVILEGE_HINT}", EXIT_NOPERM)
    return BpfError(f"{what}: {os.strerror(err)}")


PRIVILEGE_HINT = "run as root, or grant CAP_BPF and CAP_PERFMON (e.g. sudo)"


# ---- privileges, filesystems -------------------------------------------------------------
def effective_caps() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def check_privileges(tool: str) -> None:
    """Fail early, in one line, when the process cannot load BPF programs."""
    caps = effective_caps()
    if caps & (1 << CAP_SYS_ADMIN) or (caps & (1 << CAP_BPF) and caps & (1 << CAP_PERFMON)):
        return
    raise BpfError(f"{tool} loads BPF programs: {PRIVILEGE_HINT}", EXIT_NOPERM)


def _mounted(path: str, fstype: str) -> bool:
    with open("/proc/self/mounts") as f:
        return any(p[1] == path and p[2] == fstype for p in (l.split() for l in f))


def _mount(source: str, target: str, fstype: str) -> int:
    libc.mount.argtypes = [ct.c_char_p, ct.c_char_p, ct.c_char_p, ct.c_ulong, ct.c_void_p]
    rc = libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None)
    return 0 if rc == 0 else ct.get_errno()


def ensure_tracefs() -> None:
    """`tracepoint/` programs need tracefs for their ids: mount it, or say how."""
    path = "/sys/kernel/tracing"
    if _mounted(path, "tracefs") or os.path.exists(f"{path}/events"):
        return
    err = _mount("tracefs", path, "tracefs")
    if err:
        raise BpfError(f"tracefs is not mounted at {path} and mounting it failed "
                       f"({os.strerror(err)}); run: mount -t tracefs tracefs {path}",
                       EXIT_UNAVAILABLE)


def ensure_bpffs(path: str = "/sys/fs/bpf") -> None:
    if _mounted(path, "bpf"):
        return
    os.makedirs(path, exist_ok=True)
    err = _mount("bpf", path, "bpf")
    if err:
        raise BpfError(f"bpffs is not mounted at {path} and mounting it failed "
                       f"({os.strerror(err)}); run: mount -t bpf bpf {path}", EXIT_UNAVAILABLE)


def possible_cpus() -> int:
    return lib.libbpf_num_possible_cpus()


# ---- waiting out programs still running ---------------------------------------------------
_MEMBARRIER_CMD_GLOBAL = 1      # waits for an RCU grace period (synchronize_rcu)


def wait_for_running_programs() -> None:
    """Return once no BPF program that started before the call still runs: after
    flipping a generation (ks-syscalls --stats, ks-rtt's peer cache), the old half
    is then ours alone to read and clear.

    tp_btf programs run inside rcu_read_lock(), so an RCU grace period is enough;
    membarrier(MEMBARRIER_CMD_GLOBAL) waits for one.  Without it, a short sleep
    makes a straggler very unlikely.
    """
    libc.syscall.restype = ct.c_long
    if libc.syscall(sysnr.nr("membarrier"), _MEMBARRIER_CMD_GLOBAL, 0, 0) != 0:
        time.sleep(0.01)


# ---- BTF -------------------------------------------------------------------------------
class _BtfType(ct.Structure):
    _fields_ = [("name_off", ct.c_uint32), ("info", ct.c_uint32), ("size_or_type", ct.c_uint32)]


def _kind(t: _BtfType) -> int:
    return (t.info >> 24) & 0x1F


def _vlen(t: _BtfType) -> int:
    return t.info & 0xFFFF


def _members(btf: int, type_id: int, fmt: str) -> tuple[_BtfType, list[tuple]]:
    """A BTF type and its trailing records (enum values, datasec vars) unpacked with fmt."""
    ptr = lib.btf__type_by_id(btf, type_id)
    t = _BtfType.from_address(ptr)
    size = struct.calcsize(fmt)
    raw = ct.string_at(ptr + ct.sizeof(_BtfType), size * _vlen(t))
    return t, [struct.unpack_from(fmt, raw, i * size) for i in range(_vlen(t))]


def btf_enum(enum_name: str, strip_prefix: str = "") -> dict[int, str]:
    """Value -> name of a kernel enum, read from the running kernel's BTF."""
    btf = lib.btf__load_vmlinux_btf()
    if not btf:
        raise _errno_error("cannot read the kernel's BTF (/sys/kernel/btf/vmlinux)")
    try:
        for kind, fmt in ((BTF_KIND_ENUM, "<Ii"), (BTF_KIND_ENUM64, "<III")):
            tid = lib.btf__find_by_name_kind(btf, enum_name.encode(), kind)
            if tid > 0:
                break
        else:
            raise BpfError(f"enum {enum_name} is not in this kernel's BTF", EXIT_UNAVAILABLE)
        _, recs = _members(btf, tid, fmt)
        out = {}
        for rec in recs:
            name = lib.btf__name_by_offset(btf, rec[0]).decode()
            value = rec[1] if kind == BTF_KIND_ENUM else rec[1] | (rec[2] << 32)
            out[value] = name.removeprefix(strip_prefix)
        return out
    finally:
        lib.btf__free(btf)


# ---- maps ------------------------------------------------------------------------------
PERCPU_TYPES = {5, 6, 10, 21}  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH, PERCPU_CGROUP_STORAGE


class Map:
    """A BPF map by fd: lookup, update, delete, iterate (in batches where the kernel can)."""

    def __init__(self, handle: int):
        self.handle = handle
        self.name = lib.bpf_map__name(handle).decode()
        self.fd = lib.bpf_map__fd(handle)
        self.type = lib.bpf_map__type(handle)
        self.key_size = lib.bpf_map__key_size(handle)
        self.value_size = lib.bpf_map__value_size(handle)
        self.max_entries = lib.bpf_map__max_entries(handle)
        self.ncpus = possible_cpus() if self.type in PERCPU_TYPES else 1
        # Per-CPU values come back as one slot per possible CPU, each 8-byte aligned.
        self.slot = (self.value_size + 7) & ~7 if self.ncpus > 1 else self.value_size
        self._batch_ok = True

    @property
    def buf_size(self) -> int:
        return self.slot * self.ncpus

    def lookup(self, key: bytes) -> bytes | None:
        val = ct.create_string_buffer(self.buf_size)
        if lib.bpf_map_lookup_elem(self.fd, key, val) != 0:
            err = ct.get_errno()
            if err == errno.ENOENT:
                return None
            raise _errno_error(f"lookup in map {self.name}", err)
        return val.raw

    def update(self, key: bytes, value: bytes, flags: int = BPF_ANY) -> None:
        if lib.bpf_map_update_elem(self.fd, key, value, flags) != 0:
            raise _errno_error(f"update of map {self.name}")

    def delete(self, key: bytes) -> bool:
        return lib.bpf_map_delete_elem(self.fd, key) == 0

    def keys(self) -> Iterator[bytes]:
        prev = None
        nxt = ct.create_string_buffer(self.key_size)
        while lib.bpf_map_get_next_key(self.fd, prev, nxt) == 0:
            key = nxt.raw
            yield key
            prev = ct.create_string_buffer(key, self.key_size)

    def items(self, delete: bool = False) -> list[tuple[bytes, bytes]]:
        """Every (key, value); with delete=True the entries are removed as they are read
        (in one syscall per batch where the kernel supports it).  A program may still
        add to a value between the kernel's copy and the delete, and that addition is
        lost: maps programs count into are drained by generation instead
        (collectors/bpf_collector.py Generations)."""
        if self._batch_ok:
            try:
                return self._batch(delete)
            except _NoBatch:
                self._batch_ok = False
        out = []
        for key in list(self.keys()):
            value = self.lookup(key)
            if value is None:
                continue
            if delete:
                self.delete(key)
            out.append((key, value))
        return out

    def _batch(self, delete: bool) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        ks, vs = self.key_size, self.buf_size
        for kraw, vraw, count in self._batches(delete, 256):
            out.extend((kraw[i * ks:(i + 1) * ks], vraw[i * vs:(i + 1) * vs]) for i in range(count))
        return out

    def values_raw(self) -> bytes:
        """Every value, end to end (buf_size bytes each), in one batch read per 4096
        entries: what a caller that scans a big array needs, without a tuple per entry."""
        if self._batch_ok:
            try:
                return b"".join(vraw[:count * self.buf_size]
                                for _, vraw, count in self._batches(False, 4096))
            except _NoBatch:
                self._batch_ok = False
        return b"".join(v for _, v in self.items())

    def _batches(self, delete: bool, chunk: int) -> Iterator[tuple[bytes, bytes, int]]:
        """(keys, values, count) of each batch of up to `chunk` entries the kernel hands
        out (the buffers are chunk entries big: small for maps read every interval)."""
        fn = lib.bpf_map_lookup_and_delete_batch if delete else lib.bpf_map_lookup_batch
        chunk = max(1, min(self.max_entries, chunk))
        keys = ct.create_string_buffer(self.key_size * chunk)
        vals = ct.create_string_buffer(self.buf_size * chunk)
        in_b = None
        out_b = ct.create_string_buffer(max(self.key_size, 8))
        first = True
        while True:
            count = ct.c_uint32(chunk)
            rc = fn(self.fd, in_b, out_b, keys, vals, ct.byref(count), None)
            err = ct.get_errno() if rc else 0
            if rc and err not in (errno.ENOENT,):
                if err in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP) and first:
                    raise _NoBatch()
                if err == errno.ENOSPC:  # a hash bucket bigger than our chunk: grow
                    chunk *= 2
                    keys = ct.create_string_buffer(self.key_size * chunk)
                    vals = ct.create_string_buffer(self.buf_size * chunk)
                    continue
                raise _errno_error(f"batch read of map {self.name}", err)
            first = False
            yield keys.raw, vals.raw, count.value
            if err == errno.ENOENT:
                return
            in_b = ct.create_string_buffer(out_b.raw, len(out_b))

    def per_cpu(self, value: bytes) -> list[bytes]:
        """Split a per-CPU map's value into one value per possible CPU."""
        return [value[i * self.slot:i * self.slot + self.value_size] for i in range(self.ncpus)]

    def pin(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)
        if lib.bpf_map__pin(self.handle, path.encode()) != 0:
            raise _errno_error(f"pinning map {self.name} at {path}")

    def unpin(self, path: str) -> None:
        lib.bpf_map__unpin(self.handle, path.encode())


class _NoBatch(Exception):
    pass


# ---- pinned objects ---------------------------------------------------------------------
def fdinfo(fd: int, pid: int | str = "self") -> dict[str, str]:
    """The kernel's description of a BPF fd (map_type, key_size, value_size, map_id, ...)."""
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def pinned_map_info(path: str) -> dict[str, str]:
    """fdinfo of the map pinned at ``path``."""
    fd = lib.bpf_obj_get(path.encode())
    if fd < 0:
        raise _errno_error(f"opening the pinned object {path}")
    try:
        return fdinfo(fd)
    finally:
        os.close(fd)


def map_holders(map_id: str) -> list[int]:
    """Processes other than this one with an fd on map ``map_id``: while there is
    one, a pin of that map is in use; with none it is what a killed owner left."""
    me, out = os.getpid(), []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            for fd in os.listdir(f"/proc/{entry.name}/fdinfo"):
                if fdinfo(int(fd), entry.name).get("map_id") == map_id:
                    out.append(int(entry.name))
                    break
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return out


# ---- ring buffer ----------------------------------------------------------------------
class RingBuffer:
    """Polls one BPF ring buffer map; ``callback(bytes)`` gets each record."""

    def __init__(self, m: Map, callback: Callable[[bytes], None]):
        self._callback = callback
        self._error: BaseException | None = None
        self._records = 0
        self._cb = SAMPLE_FN(self._sample)  # keep a reference: libbpf calls it later
        self.rb = lib.ring_buffer__new(m.fd, self._cb, None, None)
        if not self.rb:
            raise _errno_error(f"ring buffer on map {m.name}")

    # libbpf 1.1 keeps reading while the producer keeps writing: a producer faster than
    # the callback would hold poll() forever (no flush, no signal seen).  Stop a call
    # after this many records; the next poll() or consume() picks up the rest.
    MAX_RECORDS_PER_CALL = 16384

    def _sample(self, ctx, data, size) -> int:
        try:
            self._callback(ct.string_at(data, size))
        except BaseException as e:  # an exception cannot cross the C frame: carry it
            self._error = e
            return -1
        self._records += 1
        # libbpf has consumed this record already; a negative return only stops the loop
        return -1 if self._records >= self.MAX_RECORDS_PER_CALL else 0

    def poll(self, timeout_ms: int) -> int:
        self._records = 0
        n = lib.ring_buffer__poll(self.rb, int(timeout_ms))
        self._reraise()
        if n < 0 and -n != errno.EINTR and self._records < self.MAX_RECORDS_PER_CALL:
            raise _errno_error("ring buffer poll", -n)
        return self._records if n < 0 else n

    def consume(self) -> int:
        self._records = 0
        n = lib.ring_buffer__consume(self.rb)
        self._reraise()
        return self._records if n < 0 else n

    def _reraise(self) -> None:
        if self._error is not None:
            e, self._error = self._error, None
            raise e

    def close(self) -> None:
        if self.rb:
            lib.ring_buffer__free(self.rb)
            self.rb = None


# ---- objects and programs ---------------------------------------------------------------
def object_path(name: str) -> pathlib.Path:
    path = HERE / f"{name}.bpf.o"
    if not path.exists():
        raise BpfError(f"{path} is missing: build the BPF objects with `make bpf` "
                       f"(or reinstall kernelsight)", EXIT_UNAVAILABLE)
    return path


class BpfObject:
    """One compiled ``bpf/<name>.bpf.o``: open, set read-only globals, load, attach."""

    def __init__(self, name: str, rodata: dict[str, int | bytes] | None = None,
                 path: str | os.PathLike | None = None):
        self.name = name
        self.path = pathlib.Path(path) if path else object_path(name)
        self.links: list[int] = []
        self.loaded = False
        self.obj = lib.bpf_object__open_file(str(self.path).encode(), None)
        if not self.obj:
            raise _errno_error(f"opening {self.path}")
        if rodata:
            self.set_globals(".rodata", rodata)

    # -- globals (.rodata before load: constants the verifier can prune on; .bss after)
    def _section_map(self, section: str) -> int:
        m = None
        while True:
            m = lib.bpf_object__next_map(self.obj, m)
            if not m:
                raise BpfError(f"{self.name}: no {section} section (no such globals)")
            if lib.bpf_map__name(m).decode().endswith(section):
                return m

    def _section_vars(self, section: str) -> dict[str, tuple[int, int]]:
        btf = lib.bpf_object__btf(self.obj)
        tid = lib.btf__find_by_name_kind(btf, section.encode(), BTF_KIND_DATASEC)
        if tid <= 0:
            return {}
        _, recs = _members(btf, tid, "<III")
        out = {}
        for var_id, offset, size in recs:
            var = _BtfType.from_address(lib.btf__type_by_id(btf, var_id))
            out[lib.btf__name_by_offset(btf, var.name_off).decode()] = (offset, size)
        return out

    def set_globals(self, section: str, values: dict[str, int | bytes]) -> None:
        """Set `const volatile` globals before load (the libbpf-tools way to pass options)."""
        m = self._section_map(section)
        size = ct.c_size_t()
        base = lib.bpf_map__initial_value(m, ct.byref(size))
        layout = self._section_vars(section)
        for key, value in values.items():
            if key not in layout:
                raise BpfError(f"{self.name}: no global named {key} in {section}")
            offset, width = layout[key]
            data = value if isinstance(value, bytes) else int(value).to_bytes(
                width, "little", signed=int(value) < 0)
            if len(data) > width:
                raise BpfError(f"{self.name}: value for {key} is wider than {width} bytes")
            ct.memmove(base + offset, data, len(data))

    def read_global(self, name: str, section: str = ".bss") -> bytes:
        """Current bytes of a global after load (counters such as lost events)."""
        m = Map(self._section_map(section))
        offset, width = self._section_vars(section)[name]
        raw = m.lookup(b"\0\0\0\0") or b""
        return raw[offset:offset + width]

    def read_u64(self, name: str, section: str = ".bss") -> int:
        return int.from_bytes(self.read_global(name, section), "little")

    # -- programs
    def programs(self) -> Iterator[int]:
        p = None
        while True:
            p = lib.bpf_object__next_program(self.obj, p)
            if not p:
                return
            yield p

    def program(self, name: str) -> int:
        for p in self.programs():
            if lib.bpf_program__name(p).decode() == name:
                return p
        raise BpfError(f"{self.name}: no program named {name}")

    def set_autoload(self, prog_name: str, on: bool) -> None:
        lib.bpf_program__set_autoload(self.program(prog_name), on)

    def program_fds(self) -> dict[str, int]:
        return {lib.bpf_program__name(p).decode(): lib.bpf_program__fd(p)
                for p in self.programs() if lib.bpf_program__autoload(p)}

    def set_max_entries(self, map_name: str, n: int) -> None:
        lib.bpf_map__set_max_entries(self._find_map(map_name), n)

    def load(self) -> None:
        mark = LOG.mark()
        if lib.bpf_object__load(self.obj) != 0:
            err = ct.get_errno()
            raise self._load_error(err, LOG.since(mark))
        self.loaded = True

    def _load_error(self, err: int, log: list[str]) -> BpfError:
        verifier = [i for i, l in enumerate(log) if "BEGIN PROG LOAD LOG" in l]
        if err in (errno.EPERM, errno.EACCES) and not verifier:
            return BpfError(f"loading {self.name} BPF programs: {os.strerror(err)}; "
                            f"{PRIVILEGE_HINT}", EXIT_NOPERM)
        prog = next((m.group(1) for l in log if (m := re.search(r"prog '([^']+)'", l))), "?")
        if verifier:  # the verifier's own words: the lines of its log, last ones first
            body = log[verifier[-1] + 1:]
            body = body[:next((i for i, l in enumerate(body) if "END PROG LOAD LOG" in l),
                              len(body))]
            reason = next((l for l in reversed(body) if not l.startswith("processed ")), "")
            tail = "\n".join("    " + l for l in body[-20:])
            return BpfError(f"the kernel's verifier rejected program {prog} of {self.name}: "
                            f"{reason.strip()}\n  verifier log (tail):\n{tail}")
        tail = "\n".join("    " + l for l in log[-15:])
        return BpfError(f"loading {self.name} BPF programs failed ({os.strerror(err or 22)}), "
                        f"program {prog}\n  libbpf log (tail):\n{tail}")

    def attach(self) -> None:
        """Attach every autoloaded program by its SEC() name (tp_btf, tracepoint, raw_tp)."""
        for p in self.programs():
            sec = lib.bpf_program__section_name(p).decode()
            if not lib.bpf_program__autoload(p) or sec.startswith("perf_event"):
                continue
            if sec.startswith("tracepoint/") or sec.startswith("tp/"):
                ensure_tracefs()
            link = lib.bpf_program__attach(p)
            if not link:
                name = lib.bpf_program__name(p).decode()
                raise _errno_error(f"attaching {name} ({sec})")
            self.links.append(link)

    def attach_perf_event(self, prog_name: str, perf_fd: int) -> None:
        link = lib.bpf_program__attach_perf_event(self.program(prog_name), perf_fd)
        if not link:
            raise _errno_error(f"attaching {prog_name} to a perf event")
        self.links.append(link)

    # -- maps
    def _find_map(self, name: str) -> int:
        m = lib.bpf_object__find_map_by_name(self.obj, name.encode())
        if not m:
            raise BpfError(f"{self.name}: no map named {name}")
        return m

    def map(self, name: str) -> Map:
        return Map(self._find_map(name))

    def close(self) -> None:
        for link in reversed(self.links):
            lib.bpf_link__destroy(link)
        self.links.clear()
        if self.obj:
            lib.bpf_object__close(self.obj)
            self.obj = None

    def __enter__(self) -> "BpfObject":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- program statistics -------------------------------------------------------------------
PROG_INFO_SIZE = 232                 # sizeof(struct bpf_prog_info) in the 6.x UAPI
PROG_INFO_STATS = struct.Struct("<QQQ")  # run_time_ns, run_cnt, recursion_misses
PROG_INFO_STATS_OFFSET = 192


def prog_stats(prog_fd: int) -> dict[str, int]:
    """run_time_ns and run_cnt (counted while kernel.bpf_stats_enabled=1) and
    recursion_misses: runs the kernel skipped because the program was already running
    on that CPU (e.g. a tracepoint hit again from an interrupt), i.e. lost events."""
    buf = ct.create_string_buffer(PROG_INFO_SIZE)
    size = ct.c_uint32(PROG_INFO_SIZE)
    if lib.bpf_obj_get_info_by_fd(prog_fd, buf, ct.byref(size)) != 0:
        raise _errno_error("reading BPF program info")
    if size.value < PROG_INFO_STATS_OFFSET + PROG_INFO_STATS.size:
        return {"run_time_ns": 0, "run_cnt": 0, "recursion_misses": 0}
    run_time, runs, misses = PROG_INFO_STATS.unpack_from(buf.raw, PROG_INFO_STATS_OFFSET)
    return {"run_time_ns": run_time, "run_cnt": runs, "recursion_misses": misses}


# ---- software perf events (the page-fault tracer attaches BPF to them) -------------------
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_COUNT_SW_PAGE_FAULTS_MIN = 5
PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6
PERF_FLAG_FD_CLOEXEC = 1 << 3


class PerfEventAttr(ct.Structure):
    _fields_ = [
        ("type", ct.c_uint32), ("size", ct.c_uint32), ("config", ct.c_uint64),
        ("sample_period", ct.c_uint64), ("sample_type", ct.c_uint64),
        ("read_format", ct.c_uint64), ("flags", ct.c_uint64),
        ("wakeup_events", ct.c_uint32), ("bp_type", ct.c_uint32),
        ("config1", ct.c_uint64), ("config2", ct.c_uint64),
        ("branch_sample_type", ct.c_uint64), ("sample_regs_user", ct.c_uint64),
        ("sample_stack_user", ct.c_uint32), ("clockid", ct.c_int32),
        ("sample_regs_intr", ct.c_uint64), ("aux_watermark", ct.c_uint32),
        ("sample_max_stack", ct.c_uint16), ("reserved_2", ct.c_uint16),
        ("aux_sample_size", ct.c_uint32), ("reserved_3", ct.c_uint32),
        ("sig_data", ct.c_uint64), ("config3", ct.c_uint64),
    ]


def open_perf_event(type_: int, config: int, cpu: int, sample_period: int = 0) -> int:
    """A per-CPU perf event over all tasks: sampling (for a BPF program to attach to)
    when sample_period is set, else counting (read() gives a u64 that never drops a hit)."""
    attr = PerfEventAttr(type=type_, size=ct.sizeof(PerfEventAttr), config=config,
                         sample_period=sample_period)
    libc.syscall.restype = ct.c_long
    fd = libc.syscall(sysnr.nr("perf_event_open"), ct.byref(attr), -1, cpu, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        raise _errno_error(f"perf_event_open (type {type_}, config {config}, cpu {cpu})")
    return fd


def open_software_event(config: int, cpu: int, sample_period: int = 1) -> int:
    """A per-CPU software perf event (all tasks) for a BPF program to attach to."""
    return open_perf_event(PERF_TYPE_SOFTWARE, config, cpu, sample_period)


def tracepoint_id(category: str, name: str) -> int:
    """The id perf_event_open takes for a tracepoint (PERF_TYPE_TRACEPOINT's config)."""
    ensure_tracefs()
    with open(f"/sys/kernel/tracing/events/{category}/{name}/id") as f:
        return int(f.read())


def online_cpus() -> list[int]:
    """CPUs listed in /sys/devices/system/cpu/online, e.g. "0-1"."""
    with open("/sys/devices/system/cpu/online") as f:
        spec = f.read().strip()
    cpus: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


__all__ = [
    "BpfError", "BpfObject", "Map", "RingBuffer", "btf_enum", "check_privileges", "prog_stats",
    "ensure_bpffs", "ensure_tracefs", "possible_cpus", "online_cpus", "open_software_event",
    "open_perf_event", "tracepoint_id",
    "LOG", "EXIT_ERROR",
]
