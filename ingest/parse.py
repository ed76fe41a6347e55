"""Event lines to table rows: identification and normalization, no I/O.

``Parser.parse(line)`` turns one raw line (bytes) into ``(Target, row)`` where the
row is a tuple in the order of ``Target.columns``, or raises :class:`Rejected` (bad
input, with the reason) or :class:`Unknown` (a valid JSON object nobody can place).

Two paths produce the same rows:

* ``normalize`` is the general path, written to be read: it flattens nested events,
  identifies the type, renames the original KernelSight fields and checks every value.
* The fast path caches, per *layout* (type value, keys in order, value types), a plan
  that picks the values straight out of the parsed dict.  Collectors print the same
  layout for every event of a type, so after the first line of a layout only one tuple
  build and one dict lookup stand between ``orjson.loads`` and the row.  A layout that
  needs any renaming or conversion has no plan and always takes the general path.

Timestamps counted since boot (the original tracers print ``bpf_ktime_get_ns()``) are
told apart from epoch timestamps by size: a value below ``EPOCH_MIN_NS`` (10**18 ns,
2001-09-09) cannot be a wall clock in ns on a machine running this today, and no machine
has been up for the 31 years it would take to reach it.  Such a value is ns since boot
(this machine's boot time is added: right when the events come from this boot), or
epoch seconds, milliseconds or microseconds, told apart by magnitude against the boot
time and now (timestamps.py); an ambiguous one is rejected.
"""

from __future__ import annotations

import math
import operator
import socket
import time
from dataclasses import dataclass, field

import orjson

from . import events as ev
from . import histogram
from .timestamps import SINCE_BOOT, Ambiguous, UnitGuesser

EPOCH_MIN_NS = 10**18
# time_bucket is seconds since boot in the original sched tracer; a value this large
# can only be epoch seconds (31 years of uptime).
EPOCH_MIN_S = 10**9
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
COMM_LEN = 16
# Register-like columns whose values are unsigned 64-bit in the kernel: values above
# INT64_MAX are stored as the signed 64-bit number with the same bits (-100 for an
# AT_FDCWD printed as %llu, negative for kernel addresses; `& 0xffffffffffffffff` undoes it).
WRAP_U64 = frozenset({"address", "arg0"})
# Renames that hold for every type (original field -> ks column).
RENAMES = {"syscall": "syscall_nr", "time_bucket": "timestamp"}
PLAN_CACHE_MAX = 1024
# Clocks of two machines differ a little; a timestamp further ahead than this is said.
FUTURE_SKEW_NS = 60 * 1_000_000_000


class Rejected(ValueError):
    """A line that cannot be stored: the message says why."""


class Unknown(ValueError):
    """A valid JSON object whose type nobody knows; kept in unknown_events."""

    def __init__(self, reason: str, type_name: str | None):
        super().__init__(reason)
        self.type_name = type_name if isinstance(type_name, str) else None


@dataclass(frozen=True)
class Target:
    """Where rows go: a table, its columns in row order and the statement."""

    table: str
    columns: tuple[str, ...]
    insert_sql: str = field(init=False)

    def __post_init__(self):
        cols = ", ".join(self.columns)
        marks = ", ".join("?" * len(self.columns))
        object.__setattr__(self, "insert_sql", f"INSERT INTO {self.table} ({cols}) VALUES ({marks})")


UNKNOWN_TARGET = Target(ev.UNKNOWN_TABLE, ("received_ns", "type", "reason", "raw"))
TARGETS = {t.name: Target(t.table, tuple(c.name for c in ev.columns_of(t))) for t in ev.TYPES}


def boot_time_ns() -> int:
    """Wall-clock time of this boot: CLOCK_REALTIME minus CLOCK_BOOTTIME, read together."""
    a = time.clock_gettime_ns(time.CLOCK_REALTIME)
    b = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    c = time.clock_gettime_ns(time.CLOCK_REALTIME)
    return (a + c) // 2 - b


# ---- identification -------------------------------------------------------------------
def identify(obj: dict) -> ev.EventType:
    """The event type of a flattened object; raises Unknown."""
    name = obj.get("type")
    if name is None:
        for t in ev.TYPES:
            if t.signature and all(k in obj for k in t.signature):
                return t
        raise Unknown("no type field and no known field signature", None)
    if not isinstance(name, str):
        raise Unknown(f"type is not a string: {_short(name)}", None)
    t = ev.lookup(name)
    if t is None:
        raise Unknown(f"unknown type {name!r}", name)
    # The original sched tracer's "sched" lines are per-process aggregates.
    if t.name == "sched" and ("context_switches" in obj or "time_bucket" in obj):
        return ev.BY_NAME["sched_stats"]
    return t


def flatten(obj: dict) -> dict:
    """``{"timestamp", "type", "data": {...}}`` -> one flat dict (inner fields win)."""
    data = obj.get("data")
    if not isinstance(data, dict):
        return obj
    flat = {k: v for k, v in obj.items() if k != "data"}
    flat.update(data)
    return flat


# ---- normalization --------------------------------------------------------------------
def _short(value, limit: int = 40) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode() if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _latency(obj: dict) -> None:
    if "latency_ns" in obj:
        return
    for key, scale in (("latency_ms", 1_000_000), ("latency_us", 1_000)):
        if key in obj:
            v = obj.pop(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise Rejected(f"{key} must be a number, got {_short(v)}")
            obj["latency_ns"] = round(v * scale)
            return


def _page_fault_flags(obj: dict) -> None:
    if "is_major" in obj and "fault_type" not in obj:
        obj["fault_type"] = "major" if obj.pop("is_major") else "minor"
    if ("is_write" in obj or "is_instruction" in obj) and "access_type" not in obj:
        write, exe = obj.pop("is_write", False), obj.pop("is_instruction", False)
        obj["access_type"] = "exec" if exe else "write" if write else "read"
    if "is_kernel" in obj and "user_mode" not in obj:
        obj["user_mode"] = 0 if obj.pop("is_kernel") else 1


def _rename_keys(obj: dict, t: ev.EventType, columns: frozenset) -> None:
    for old, new in RENAMES.items():
        if old in obj and new not in obj:
            obj[new] = obj.pop(old)
    # Device and interface names: block and network tables say device_name and
    # interface_name, io_latency says device.
    for short, long in (("device", "device_name"), ("interface", "interface_name")):
        if long in columns and short in obj and long not in obj:
            obj[long] = obj.pop(short)
        elif short in columns and long in obj and short not in obj:
            obj[short] = obj.pop(long)
    # A unit suffix the column lacks: read_ticks_ms -> read_ticks (same unit, ms).
    for key in [k for k in obj if k.endswith("_ms") and k not in columns]:
        base = key[:-3]
        if base in columns and base not in obj:
            obj[base] = obj.pop(key)
    if "interval_seconds" in obj and "interval_ns" in columns and "interval_ns" not in obj:
        s = obj.pop("interval_seconds")
        if isinstance(s, (int, float)) and not isinstance(s, bool):
            obj["interval_ns"] = round(s * 1_000_000_000)


class Normalizer:
    """The general path: one flat, renamed, checked dict per event."""

    def __init__(self, host: str | None = None, boot_ns: int | None = None):
        self.host = host or socket.gethostname()
        self.boot_ns = boot_time_ns() if boot_ns is None else boot_ns
        self.boot_relative = 0          # events whose timestamp counted since boot
        self.future = 0                 # events stamped more than FUTURE_SKEW_NS ahead
        self.future_ns = time.time_ns() + FUTURE_SKEW_NS   # refreshed when passed
        self.units = UnitGuesser(self.boot_ns, FUTURE_SKEW_NS)   # timestamps below 10**18
        self.dropped: dict[str, int] = {}   # unknown keys dropped, by name

    def normalize(self, obj: dict) -> tuple[ev.EventType, tuple]:
        flat = flatten(obj)
        t = identify(flat)
        flat = dict(flat) if flat is obj else flat   # never change the caller's dict
        columns = _COLUMN_SETS[t.name]
        bucketed = "time_bucket" in flat and "timestamp" not in flat
        _rename_keys(flat, t, columns)
        self._timestamp(flat, bucketed)
        if bucketed and "interval_ns" in columns and "interval_ns" not in flat:
            flat["interval_ns"] = 1_000_000_000   # the original aggregates per second
        _latency(flat)
        if t.name == "page_fault":
            _page_fault_flags(flat)
        if flat.get("host") is None:
            flat["host"] = self.host
        for key in flat:
            if key not in columns and key != "type":
                self.dropped[key] = self.dropped.get(key, 0) + 1
        return t, tuple(_check(t, c, flat.get(c.name)) for c in _COLUMNS[t.name])

    def _timestamp(self, flat: dict, time_bucket: bool) -> None:
        ts = flat.get("timestamp")
        if ts is None:
            raise Rejected("missing required field 'timestamp'")
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise Rejected(f"timestamp must be an integer (ns since the epoch), got {_short(ts)}")
        if ts < 0:
            raise Rejected(f"timestamp is negative: {ts}")
        if time_bucket:
            if ts < EPOCH_MIN_S:
                self.boot_relative += 1
                ts = self.boot_ns + ts * 1_000_000_000
            else:
                ts *= 1_000_000_000
        elif ts < EPOCH_MIN_NS:
            try:
                unit, ts = self.units.to_epoch_ns(ts)
            except Ambiguous as e:
                raise Rejected(str(e)) from None
            self.boot_relative += unit == SINCE_BOOT
        if ts > INT64_MAX:
            raise Rejected("timestamp out of SQLite's 64-bit integer range")
        if ts > self.future_ns:
            self.future_ns = time.time_ns() + FUTURE_SKEW_NS
            if ts > self.future_ns:
                self.future += 1
        flat["timestamp"] = ts


def _check(t: ev.EventType, c: ev.Column, v):
    """One value, converted to what its column stores and within its declared range
    (events.NON_NEGATIVE); raises Rejected."""
    v = _convert(t, c, v)
    if v is not None and c.minimum is not None and c.sql != ev.TEXT and v < c.minimum:
        raise Rejected(f"{c.name} is negative ({v}): a {c.unit} value is never below {c.minimum}")
    return v


def _hist_text(name: str, v) -> str:
    """A histogram column's value as stored (minified JSON), or Rejected saying why not."""
    try:
        return orjson.dumps(histogram.checked(v)).decode()
    except histogram.BadHistogram as e:
        raise Rejected(f"{name} is not a histogram: {e}") from None


def _convert(t: ev.EventType, c: ev.Column, v):
    if v is None:
        if c.required:
            raise Rejected(f"missing required field {c.name!r} for type {t.name!r}")
        return None
    kind = type(v)
    if c.unit == "hist_us":
        if kind is list or kind is str:
            return _hist_text(c.name, v)
        raise Rejected(f"{c.name} must be a histogram list, got {_short(v)}")
    if c.sql == ev.INTEGER:
        if kind is bool:
            return int(v)
        if kind is float:
            # orjson reads integers beyond 64 bits as floats; those, and any float
            # past 2**53, are no exact integer any more.
            if abs(v) >= 2**53:
                raise Rejected(f"{c.name} out of the exact 64-bit integer range: {v!r}")
            if v.is_integer():
                v, kind = int(v), int
        if kind is str and c.name in WRAP_U64:
            try:
                v, kind = int(v, 0), int
            except ValueError:
                raise Rejected(f"{c.name} is not a number: {_short(v)}") from None
        if kind is not int:
            raise Rejected(f"{c.name} must be an integer, got {_short(v)}")
        if v > INT64_MAX and c.name in WRAP_U64 and v < 2**64:
            return v - 2**64
        if not INT64_MIN <= v <= INT64_MAX:
            raise Rejected(f"{c.name} out of SQLite's 64-bit integer range: {v}")
        return v
    if c.sql == ev.REAL:
        if kind is float:
            if not math.isfinite(v):
                raise Rejected(f"{c.name} is not finite")
            return v
        if kind is int:
            return v if INT64_MIN <= v <= INT64_MAX else float(v)
        if kind is bool:
            return int(v)
        raise Rejected(f"{c.name} must be a number, got {_short(v)}")
    # TEXT
    if kind is str:
        return v[:COMM_LEN] if c.name == "comm" else v
    if kind in (int, float):
        return str(v)
    raise Rejected(f"{c.name} must be a string, got {_short(v)}")


_COLUMNS = {t.name: ev.columns_of(t) for t in ev.TYPES}
_COLUMN_SETS = {t.name: frozenset(c.name for c in ev.columns_of(t)) for t in ev.TYPES}


# ---- the fast path ---------------------------------------------------------------------
_PLAIN_TYPES = {ev.INTEGER: (int,), ev.REAL: (int, float), ev.TEXT: (str,)}


def _plan(t: ev.EventType, keys: tuple[str, ...], types: tuple[type, ...]):
    """(itemgetter over (values..., None, host), row positions of histogram lists,
    row positions of values that must not be negative) for a layout that needs no
    other conversion, or None when the layout must take the general path."""
    cols = ev.columns_of(t)
    names = _COLUMN_SETS[t.name]
    if any(k not in names and k != "type" for k in keys):
        return None                      # renames or dropped keys: general path
    pos = {k: i for i, k in enumerate(keys)}
    picks, hists, nonneg = [], [], []
    for c in cols:
        i = pos.get(c.name)
        if i is None:
            if c.required:
                return None
            picks.append(-1 if c.name == "host" else -2)
            continue
        if c.unit == "hist_us" and types[i] is list:
            hists.append(len(picks))
        elif c.unit == "hist_us" or types[i] not in _PLAIN_TYPES[c.sql]:
            return None                  # null, bool, ...: general path
        elif c.minimum is not None:
            nonneg.append(len(picks))
        picks.append(i)
    return operator.itemgetter(*picks), tuple(hists), tuple(nonneg)


def _in_range(row: tuple, nonneg: tuple[int, ...]) -> bool:
    for i in nonneg:
        if row[i] < 0:
            return False
    return True


def _encode_hists(target: Target, row: tuple, positions: tuple[int, ...]) -> tuple:
    out = list(row)
    for i in positions:
        out[i] = _hist_text(target.columns[i], out[i])
    return tuple(out)


def _json_error(line: bytes, e: Exception) -> Rejected:
    try:
        bytes(line).decode("utf-8")
    except UnicodeDecodeError as u:
        return Rejected(f"not valid UTF-8 (byte 0x{line[u.start]:02x} at offset {u.start})")
    return Rejected(f"invalid JSON: {e}")


class Parser:
    """Raw line -> (Target, row).  Holds the plan cache and the counters."""

    def __init__(self, host: str | None = None, boot_ns: int | None = None):
        self.norm = Normalizer(host, boot_ns)
        self.host = self.norm.host
        self._plans: dict[tuple, tuple] = {}
        comm_index = {}
        for name, tgt in TARGETS.items():
            comm_index[name] = tgt.columns.index("comm") if "comm" in tgt.columns else None
        self._comm_index = comm_index

    @property
    def boot_relative(self) -> int:
        return self.norm.boot_relative

    @property
    def dropped(self) -> dict[str, int]:
        return self.norm.dropped

    def parse(self, line: bytes) -> tuple[Target, tuple]:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise _json_error(line, e) from None
        if type(obj) is not dict:
            raise Rejected(f"not a JSON object: {_short(obj)}")
        vals = obj.values()
        key = (obj.get("type"), *obj, *map(type, vals))
        try:
            plan = self._plans.get(key)
        except TypeError:            # "type" is a list or an object: no plan for that
            plan = False
        if plan is None:
            plan = self._new_plan(obj, key)
        if plan is not False:
            target, getter, comm, hists, nonneg = plan
            row = getter((*vals, None, self.host))
            # Value checks the layout cannot tell: boot-relative, negative or future
            # timestamps, long thread names and negative counts go the general way.
            if (EPOCH_MIN_NS <= row[0] <= self.norm.future_ns and (comm is None or len(row[comm]) <= COMM_LEN)
                    and _in_range(row, nonneg)):
                return target, (_encode_hists(target, row, hists) if hists else row)
        t, row = self.norm.normalize(obj)
        return TARGETS[t.name], row

    def parse_general(self, line: bytes) -> tuple[Target, tuple]:
        """The general path only: for a row the database refused (e.g. an unsigned
        64-bit value the fast path passed through), and for tests of the fast path."""
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise _json_error(line, e) from None
        if type(obj) is not dict:
            raise Rejected(f"not a JSON object: {_short(obj)}")
        t, row = self.norm.normalize(obj)
        return TARGETS[t.name], row

    def _new_plan(self, obj: dict, key: tuple):
        try:
            t = identify(obj) if "data" not in obj else None
        except Unknown:
            t = None
        plan = False
        if t is not None:
            n = (len(key) - 1) // 2
            found = _plan(t, key[1 : 1 + n], key[1 + n :])
            if found is not None:
                comm = self._comm_index[t.name]
                if comm is not None and "comm" not in obj:
                    comm = None
                plan = (TARGETS[t.name], found[0], comm, *found[1:])
        if len(self._plans) < PLAN_CACHE_MAX:
            self._plans[key] = plan
        return plan
