"""The ClickHouse sink's spool: batches the server did not take, kept in a local
append-only file and handed back in order, across ks-ingest restarts.

The file is JSON lines: ``{"batch": id, "tables": [[table, rows], ...]}`` for a batch
kept, ``{"ack": id}`` once the server has it.  A batch is replayed until its ack is
written; when every batch is acknowledged the file is emptied.  Each record is
written whole and synced, so a crash leaves at most a torn last line, which the next
start cuts off (its batch was never reported stored: the rows were still pending).
One ks-ingest at a time holds a spool (an exclusive flock); a second one is told so.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
from dataclasses import dataclass, field
from typing import Iterator

import orjson


class SpoolBusy(Exception):
    """Another ks-ingest holds this spool."""


@dataclass
class Batch:
    id: int
    tables: list[tuple[str, list]] = field(default_factory=list)   # (table, rows)

    @property
    def rows(self) -> int:
        return sum(len(rows) for _, rows in self.tables)


class Spool:
    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a+b")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise SpoolBusy(f"{self.path} is held by another ks-ingest: give each one its own "
                            "--spool-dir") from None
        self._cut_torn_tail()
        self.pending, self.pending_rows = 0, 0
        for batch in self.batches():
            self.pending += 1
            self.pending_rows += batch.rows

    def _cut_torn_tail(self) -> None:
        size = os.fstat(self.file.fileno()).st_size
        if not size:
            return
        self.file.seek(0)
        data = self.file.read()
        if not data.endswith(b"\n"):
            self.file.truncate(data.rfind(b"\n") + 1)

    def append(self, batch: Batch) -> None:
        self._write({"batch": batch.id, "tables": batch.tables})
        self.pending += 1
        self.pending_rows += batch.rows

    def ack(self, batch: Batch) -> None:
        self.pending -= 1
        self.pending_rows -= batch.rows
        if self.pending == 0:
            self.file.truncate(0)      # all of it is in: start afresh
            os.fsync(self.file.fileno())
        else:
            self._write({"ack": batch.id})

    def batches(self) -> Iterator[Batch]:
        """The batches not acknowledged yet, oldest first."""
        self.file.flush()
        # Read before yielding: the caller acks as it goes, and the last ack truncates
        # the file under a reader that is still in the middle of a long line.
        with open(self.path, "rb") as f:
            records = [orjson.loads(line) for line in f]
        acked = {r["ack"] for r in records if "ack" in r}
        for r in records:
            if "batch" in r and r["batch"] not in acked:
                yield Batch(r["batch"], [(t, rows) for t, rows in r["tables"]])

    def _write(self, record: dict) -> None:
        self.file.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()
