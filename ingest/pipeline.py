"""The ingestion loop: lines in, parsed rows batched per table, committed on time.

Batching rule (the original pipeline's, docs/design.md): commit when a table's batch reaches
``batch_size`` rows, or when ``batch_timeout`` seconds have passed since the oldest
pending event, whether or not more input arrives.  A commit writes every table's
pending rows in one transaction (one commit is the expensive part, not the rows).

Group commit: the writer process commits one transaction while we parse the next.
When a commit is due while the previous one is still being written, the rows that
keep arriving join the due one (up to ``group_limit`` rows), so under a flood the
commits grow and their number shrinks instead of parsing stalling behind each one.
At the rates collectors produce, every commit starts on time as the rule says.

Nothing disappears: a line is either a row, an ``unknown_events`` row, a counted blank,
or a rejected line (counted, reported on stderr, written to the reject file).

The reject file keeps each line byte for byte (``raw``, plus ``raw_base64`` when the
line is not UTF-8), so ``--replay-rejects`` (:class:`ReplaySource`) can feed the very
same lines through the same path again.
"""

from __future__ import annotations

import array
import base64
import binascii
import os
import signal
import sys
import time
from dataclasses import dataclass, field

import orjson

from .parse import FUTURE_SKEW_NS, UNKNOWN_TARGET, Parser, Rejected, Target, Unknown
from .reader import MAX_LINE, LineSource, Overlong
from .schema import SOURCES_TABLE
from .timestamps import SINCE_BOOT
from .sink import SinkFailed

# Rejects reported one by one on stderr before we go quiet and only count them.
REPORT_FIRST = 10
REPORT_EVERY_S = 5.0
# At most this many rows gather behind a busy writer (unless --batch-size is larger).
# Measured on 1M mixed events at default flags: 4000 keeps each process under 50 MB
# RSS; 16000 is ~1.5x faster (fewer commits, each rewriting the random-keyed index
# leaves it touched) for ~27 MB more.
GROUP_LIMIT_ROWS = 4000
# How long SIGTERM waits for a busy database before giving up on it.
STOP_BUSY_GRACE_S = 10.0


def warn(message: str) -> None:
    try:
        sys.stderr.write(f"ks-ingest: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass   # stderr gone: nothing better to do


@dataclass
class Options:
    batch_size: int = 100
    batch_timeout: float = 1.0
    verbose: bool = False
    progress: bool = False


@dataclass
class Stats:
    lines: int = 0
    blank: int = 0
    rejected: int = 0
    unknown: int = 0
    not_records: int = 0         # lines of a --replay-rejects file that are no reject record
    rows: dict[str, int] = field(default_factory=dict)
    commits: int = 0
    started: float = field(default_factory=time.monotonic)
    # (source, unit) -> timestamps converted to ns since the epoch (timestamps.py)
    converted: dict[tuple[str, str], int] = field(default_factory=dict)

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rows = {t: n for t, n in self.rows.items() if t != UNKNOWN_TARGET.table and n}
        tables = ", ".join(f"{t} {n}" for t, n in sorted(rows.items())) or "none"
        blank = f", {self.blank} blank" if self.blank else ""
        if self.not_records:
            blank += f", {self.not_records} not reject records"
        if self.converted:
            units: dict[str, int] = {}
            for (_, unit), n in self.converted.items():
                units[unit] = units.get(unit, 0) + n
            blank += (f", {sum(units.values())} timestamps converted ("
                      + ", ".join(f"{n} from {u}" for u, n in sorted(units.items())) + ")")
        return (f"{self.lines} lines read, {sum(rows.values())} rows stored ({tables}), "
                f"{self.rejected} rejected, {self.unknown} unknown{blank}, "
                f"{self.lines / elapsed:,.0f} lines/s over {elapsed:.1f} s")


class RejectLog:
    """Rejected lines: counted, told on stderr (rate-limited), kept in a file."""

    def __init__(self, path: str | None, stats: Stats):
        self.stats = stats
        # Unbuffered: each record is one write() as it is rejected, so kill -9 loses
        # none; sync() makes them as durable as the rows of the commit it follows.
        self.file = open(path, "ab", buffering=0) if path else None
        self.path = path
        self._unsynced = False
        self.replays: dict[str, ReplaySource] = {}   # by name: where their lines came from
        self._quiet_since = 0.0
        self._quiet_count = 0
        self._last = ""

    def reject(self, source: str, lineno: int, line: bytes, reason: str) -> None:
        self.stats.rejected += 1
        source, lineno, where = self._origin(source, lineno)
        if self.file is not None:   # kept before it is told: what stderr says is on disk
            self._write(reject_record(source, lineno, line, reason))
        if self.stats.rejected <= REPORT_FIRST:
            warn(f"{where}: rejected: {reason}")
        else:
            self._quiet_count += 1
            self._last = where
            now = time.monotonic()
            if self.stats.rejected == REPORT_FIRST + 1:
                self._quiet_since = now
            elif now - self._quiet_since >= REPORT_EVERY_S:
                self.tell_quiet()
                self._quiet_since = now

    def keep(self, source: str, lineno: int, line: bytes, reason: str) -> None:
        """Write one line to the reject file without telling or counting it."""
        source, lineno, _ = self._origin(source, lineno)
        self._write(reject_record(source, lineno, line, reason))

    def _write(self, record: bytes) -> None:
        """One record into the reject file, whole; when the file cannot take it (disk
        full, I/O error) this and every later record go to stderr instead, as the
        same JSON lines, so no rejected line is lost."""
        if self.file is not None:
            try:
                view = memoryview(record)
                while view:
                    view = view[self.file.write(view):]
                self._unsynced = True
                return
            except OSError as e:
                self._give_up_file(e)
        _stderr_record(record)

    def _give_up_file(self, e: OSError) -> None:
        warn(f"cannot write the reject file {self.path}: {e.strerror or e}; rejected lines "
             "go to stderr from here on, each as its reject record (one JSON line)")
        try:
            self.file.close()
        except OSError:
            pass
        self.file = None

    def sync(self) -> None:
        """fsync the records written since the last commit (called after each one)."""
        if self.file is None or not self._unsynced:
            return
        try:
            os.fsync(self.file.fileno())
            self._unsynced = False
        except OSError as e:
            self._give_up_file(e)

    def _origin(self, source: str, lineno: int) -> tuple[str, int, str]:
        """Where a line came from, and how to tell it: a replayed line keeps the
        source and line number of its reject record."""
        replay = self.replays.get(source)
        if replay is None:
            return source, lineno, (f"{source}:{lineno}" if source != "-" else f"line {lineno}")
        origin, n, at = replay.origin(lineno)
        told = f"{origin}:{n}" if origin != "-" else f"line {n}"
        return origin, n, f"{told} (replayed from {replay.name}:{at})"

    def tell_quiet(self) -> None:
        if self._quiet_count:
            warn(f"{self._quiet_count} more lines rejected (last at {self._last})")
            self._quiet_count = 0

    def close(self) -> None:
        self.tell_quiet()
        self.sync()
        if self.file is not None:
            self.file.close()


def _stderr_record(record: bytes) -> None:
    try:
        sys.stderr.flush()
        sys.stderr.buffer.write(record)
        sys.stderr.buffer.flush()
    except (OSError, ValueError):
        pass   # stderr gone too: nothing is left to write to


# ---- the reject file ----------------------------------------------------------------------
def reject_record(source: str, lineno: int, line: bytes, reason: str) -> bytes:
    """One line of the reject file: where, why, and the line exactly as read.

    ``raw`` is the line as text; when the line is not valid UTF-8, ``raw`` is only a
    readable rendering (each bad byte as the four characters ``\\xNN``, which a line
    may also hold for real) and ``raw_base64`` holds the exact bytes.  A line cut at
    the length limit has ``truncated`` and its full ``length``; raw is its start."""
    data = bytes(line)
    record = {"source": source, "line": lineno, "reason": reason}
    try:
        record["raw"] = data.decode("utf-8")
    except UnicodeDecodeError:
        record["raw"] = data.decode("utf-8", "backslashreplace")
        record["raw_base64"] = base64.b64encode(data).decode("ascii")
    if isinstance(line, Overlong):
        record["truncated"] = True
        record["length"] = line.length
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class NotARecord(ValueError):
    """A line of a --replay-rejects file that no reject file holds: the message says why."""


def replayed_line(record: bytes) -> tuple[str, int, bytes]:
    """The source, line number and exact line of one reject record; raises NotARecord.

    The line is a plain ``bytes`` as the reader hands them out, or an ``Overlong`` for
    a line that was (or is now) longer than the limit, so it is rejected the same way."""
    try:
        r = orjson.loads(record)
    except orjson.JSONDecodeError as e:
        raise NotARecord(f"invalid JSON ({e})") from None
    if type(r) is not dict:
        raise NotARecord("not a JSON object")
    for key, kind in (("source", str), ("line", int), ("reason", str)):
        if type(r.get(key)) is not kind:
            raise NotARecord(f"no {key!r} {'number' if kind is int else 'string'}")
    if not 0 <= r["line"] < 2**63:
        raise NotARecord(f"'line' {r['line']} is no line number")
    raw, b64 = r.get("raw"), r.get("raw_base64")
    if b64 is not None:
        try:
            data = base64.b64decode(b64, validate=True) if type(b64) is str else None
        except binascii.Error:
            data = None
        if data is None:
            raise NotARecord("'raw_base64' is not base64")
        if raw is not None and raw != data.decode("utf-8", "backslashreplace"):
            raise NotARecord("'raw' and 'raw_base64' disagree "
                             "(to replay an edited 'raw', delete 'raw_base64')")
    elif type(raw) is str:
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError:     # a lone surrogate: orjson reads none, but be sure
            raise NotARecord("'raw' is not valid Unicode") from None
    else:
        raise NotARecord("no 'raw' string")
    if b"\n" in data:
        raise NotARecord("'raw' holds a line break: a line never does")
    length = r.get("length") if r.get("truncated") is True else None
    if type(length) is int or len(data) > MAX_LINE:
        cut = Overlong(data[:MAX_LINE])
        cut.length = max(length or 0, len(data))
        data = cut
    return r["source"], r["line"], data


class ReplaySource:
    """A reject file read as input (``--replay-rejects``): hands out the exact lines
    its records hold, like a LineSource, and remembers where each came from.

    The ingester numbers the lines it is given from 1 on; ``origin(n)`` is the source
    and line number of the n-th one, and the line of the reject file that held it.
    Lines that are no reject record are counted and told, never fed."""

    # a record holds a line of up to MAX_LINE bytes as JSON text, and maybe as base64
    RECORD_MAX = 8 * MAX_LINE + 4096

    def __init__(self, fd: int, name: str, stats: Stats, *, wake_fd: int | None = None):
        self.lines = LineSource(fd, name, wake_fd=wake_fd, max_line=self.RECORD_MAX)
        self.fd, self.name = fd, name
        self.stats = stats
        self.lineno = 0
        self.not_records = 0                 # lines of this file that are no reject record
        self._sources: dict[str, int] = {}   # source name -> index in _names
        self._names: list[str] = []
        # per line handed out: source index, line number, line of the reject file
        self._origins = array.array("q")

    @property
    def eof(self) -> bool:
        return self.lines.eof

    def read(self, timeout: float | None) -> list[bytes]:
        at = self.lines.lineno
        out = []
        for at, record in enumerate(self.lines.read(timeout), at + 1):
            if not record.strip():
                source, n, line = self.name, at, record     # counted as a blank line
            else:
                try:
                    source, n, line = replayed_line(record)
                except NotARecord as e:
                    self._not_a_record(at, str(e))
                    continue
            out.append(line)
            self._origins.extend((self._source_index(source), n, at))
        self.lineno += len(out)
        return out

    def origin(self, n: int) -> tuple[str, int, int]:
        index, line, at = self._origins[3 * n - 3 : 3 * n]
        return self._names[index], line, at

    def _source_index(self, source: str) -> int:
        index = self._sources.get(source)
        if index is None:
            index = self._sources[source] = len(self._names)
            self._names.append(source)
        return index

    def _not_a_record(self, at: int, why: str) -> None:
        self.stats.lines += 1
        self.stats.not_records += 1
        self.not_records += 1
        if self.stats.not_records <= REPORT_FIRST:
            warn(f"{self.name}:{at}: not a reject record: {why}")


class _Batch:
    __slots__ = ("target", "rows", "meta")

    def __init__(self, target: Target):
        self.target = target
        self.rows: list[tuple] = []
        self.meta: list[tuple] = []   # (source, lineno, raw line) of each row


class Ingester:
    def __init__(self, committer, parser: Parser, options: Options, rejects: RejectLog, stats: Stats):
        self.committer = committer   # InlineCommitter or ProcessCommitter (writer.py)
        self.inflight: list | None = None
        self.unparsed: list[tuple] = []
        self.due = False             # a batch is full: commit as soon as the writer is free
        # Rows that may gather while the writer is busy (group commit); bounded so
        # that memory stays small at the default batch size.
        self.group_limit = max(options.batch_size, GROUP_LIMIT_ROWS)
        self.parser = parser
        self.opt = options
        self.rejects = rejects
        self.stats = stats
        self.pending: dict[str, _Batch] = {}
        self.npending = 0
        self.oldest = 0.0            # monotonic time of the oldest pending event
        self.stopping = False
        self.said_boot = False
        self.said_future = False
        self.lock_wait = None        # a locks.WaitNotice: says who holds a lock we wait for
        self.positions = None        # a resume.Positions: committed lines per input file
        self.units = parser.norm.units
        stats.converted = self.units.converted
        self._told_units = 0         # entries of units.converted said on stderr
        self._progress_at = 0.0

    # -- input ----------------------------------------------------------------------------
    def run(self, sources: list[LineSource]) -> None:
        """Read every source to its end (or until stopped), committing on time."""
        for src in sources:
            while not self.stopping and not src.eof:
                base = src.lineno
                lines = src.read(self._time_left())
                if lines:
                    self.feed(src.name, base, lines)
                if self.inflight is not None and self.committer.ready():
                    self.settle()
                if self.npending and (src.eof or self._due()):
                    if self.inflight is None or self.npending >= self.group_limit:
                        self.flush()
                if self.opt.progress:
                    self._show_progress()
        self.flush()
        self.settle()

    def _due(self) -> bool:
        return self.due or time.monotonic() >= self.oldest + self.opt.batch_timeout

    def _time_left(self) -> float | None:
        """How long the next read may wait for input."""
        if self.inflight is not None:
            # settle the transaction in flight soon after it is done (its errors are
            # told while the input is idle), and start a due commit right after it
            return 0.002 if self.npending and self._due() else 0.05
        if not self.npending:
            return 0.5 if self.opt.progress else None
        return max(self.oldest + self.opt.batch_timeout - time.monotonic(), 0.0)

    def feed(self, source: str, base: int, lines: list[bytes]) -> None:
        """Parse lines into pending rows; commits whenever a table's batch is full."""
        parse = self.parser.parse
        pending = self.pending
        size = self.opt.batch_size
        self.stats.lines += len(lines)
        self.units.source = source
        if not self.npending:
            self.oldest = time.monotonic()
        for lineno, line in enumerate(lines, base + 1):
            try:
                target, row = parse(line)
            except Rejected as e:
                self._bad(source, lineno, line, str(e))
                continue
            except Unknown as e:
                target, row = UNKNOWN_TARGET, self._unknown_row(line, e)
                self.stats.unknown += 1
            batch = pending.get(target.table)
            if batch is None:
                batch = pending[target.table] = _Batch(target)
            batch.rows.append(row)
            batch.meta.append((source, lineno, line))
            self.npending += 1
            if len(batch.rows) % size == 0:      # reached the batch size (again)
                if self.positions:
                    self.positions.parsed(source, lineno)
                try:
                    self._batch_full()
                except SinkFailed:
                    # the lines read but not parsed yet are pending too
                    self.unparsed = [(source, n, x) for n, x in enumerate(lines[lineno - base:], lineno + 1)]
                    raise
        if self.positions:
            self.positions.parsed(source, base + len(lines))
        if len(self.units.converted) > self._told_units:
            self._tell_units()

    def _tell_units(self) -> None:
        """Say once per source and unit that its timestamps were converted (the boot
        time's conversion is said once for all, in settle())."""
        for source, unit in list(self.units.converted)[self._told_units:]:
            if unit != SINCE_BOOT:
                where = "standard input" if source == "-" else source
                warn(f"{where}: timestamps in epoch {unit} (by their size) converted to ns since the epoch")
        self._told_units = len(self.units.converted)

    def _batch_full(self) -> None:
        """A table's batch is full: commit now, or -- while the writer is still busy
        with the previous commit -- let the rows that keep coming join the next one
        (group commit), up to group_limit rows."""
        self.due = True
        if self.inflight is not None and self.npending < self.group_limit and not self.committer.ready():
            return
        self.flush()
        self.oldest = time.monotonic()

    def _bad(self, source: str, lineno: int, line: bytes, reason: str) -> None:
        if isinstance(line, Overlong):
            reason = f"line of {line.length} bytes is longer than the limit of {len(line)} bytes"
        elif not line.strip():
            self.stats.blank += 1        # an empty line is no event, and no error
            return
        self.rejects.reject(source, lineno, line, reason)

    @staticmethod
    def _unknown_row(line: bytes, e: Unknown) -> tuple:
        return (time.time_ns(), e.type_name, str(e), line.decode("utf-8").strip())

    # -- output ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Hand every pending row to the committer as one transaction.

        The previous transaction is settled first, so at most one is in flight: with
        the writer process, this batch is written while the next one is parsed."""
        if not self.npending and not (self.positions and self.positions.moved()):
            return
        self.settle()
        batches = [b for b in self.pending.values() if b.rows]
        job = [(b.target.table, b.target.insert_sql, b.rows) for b in batches]
        where = self.positions and self.positions.job_entry()
        self.committer.submit(job + [where] if where else job)   # after the batches: their indexes hold
        self.inflight = [(b.target, b.rows, b.meta) for b in batches]
        for b in batches:          # fresh lists: the old ones are in flight
            b.rows, b.meta = [], []
        self.npending = 0
        self.due = False

    def settle(self) -> None:
        """Wait for the transaction in flight and account for it; raises SinkFailed."""
        if self.inflight is None:
            return
        result = self._wait()
        if result[0] == "failed":
            raise SinkFailed(result[1])
        _, stored, refused = result
        inflight, self.inflight = self.inflight, None
        self.stats.commits += 1
        self.rejects.sync()
        self._count(stored)
        if refused:
            self._retry_refused([(inflight[j][2][i], reason) for j, i, reason in refused])
        future = self.parser.norm.future
        if future and not self.said_future:
            self.said_future = True
            warn(f"{future} timestamp(s) more than {FUTURE_SKEW_NS // 10**9} s in the future "
                 "(another machine's clock, or since-boot times from an earlier boot): stored as given")
        if self.parser.boot_relative and not self.said_boot:
            self.said_boot = True
            boot = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.parser.norm.boot_ns / 1e9))
            warn(f"timestamps counted since boot were moved to wall-clock time with this "
                 f"machine's boot time ({boot}); right only for events from this boot")

    def _wait(self) -> tuple:
        """The committer's result; a database locked by another writer is waited out,
        except after SIGTERM/SIGINT, when we give it STOP_BUSY_GRACE_S."""
        stop_seen = None
        while True:
            result = self.committer.result(timeout=0.2)
            if result is not None:
                if self.lock_wait:
                    self.lock_wait.done()
                return result
            if self.lock_wait:
                self.lock_wait.tick()
            if self.stopping:
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > STOP_BUSY_GRACE_S:
                    self.committer.abandon()
                    return ("failed", "the database stayed locked by another writer")

    def _count(self, stored: dict[str, int]) -> None:
        stored.pop(SOURCES_TABLE, None)     # the files' positions (resume.py): no event rows
        for table, n in stored.items():
            self.stats.rows[table] = self.stats.rows.get(table, 0) + n

    def _retry_refused(self, refused: list[tuple[tuple, str]]) -> None:
        """Rows the database refused go once more through the general parser (it
        converts what the fast path passed through as is, e.g. an unsigned 64-bit
        address); whatever fails again is rejected with its reason."""
        job, metas = [], []
        for (source, lineno, line), reason in refused:
            try:
                target, row = self.parser.parse_general(line)
            except Rejected as e:
                self.rejects.reject(source, lineno, line, str(e))
                continue
            except Unknown as e:
                target, row = UNKNOWN_TARGET, self._unknown_row(line, e)
            job.append((target.table, target.insert_sql, [row]))
            metas.append(((source, lineno, line), reason))
        if not job:
            return
        self.committer.submit(job)
        self.inflight = [(None, None, [m]) for m, _ in metas]
        result = self._wait()
        if result[0] == "failed":
            raise SinkFailed(result[1])
        self.inflight = None
        self._count(result[1])
        for j, _, _ in result[2]:
            (source, lineno, line), reason = metas[j]
            self.rejects.reject(source, lineno, line, reason)

    def pending_lines(self):
        """Lines not yet committed: the transaction in flight, then the pending rows."""
        for _, _, meta in self.inflight or ():
            yield from meta
        for b in self.pending.values():
            yield from b.meta
        yield from self.unparsed

    # -- progress -------------------------------------------------------------------------
    def _show_progress(self) -> None:
        now = time.monotonic()
        if now - self._progress_at < 0.5:
            return
        self._progress_at = now
        elapsed = max(now - self.stats.started, 1e-9)
        stored = sum(self.stats.rows.values())
        try:
            sys.stderr.write(f"\r{self.stats.lines:,} lines, {stored:,} rows, "
                             f"{self.stats.rejected:,} rejected, {self.stats.lines / elapsed:,.0f} lines/s  ")
            sys.stderr.flush()
        except (OSError, ValueError):
            self.opt.progress = False


class StopSignals:
    """SIGTERM/SIGINT set a flag and wake select() through a pipe, so the loop commits
    what is pending and ends, even while no input arrives."""

    def __init__(self, ingester: Ingester | None = None):
        self.ingester = ingester     # set once it exists: signals come before it
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.signum = 0

    def __enter__(self) -> "StopSignals":
        signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        if self.ingester is not None:
            self.ingester.stopping = True

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(-1)
        os.close(self.read_fd)
        os.close(self.write_fd)
