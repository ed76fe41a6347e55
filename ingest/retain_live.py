"""ks-ingest --retain: ks-retain's work from inside a long-running ingest.

A thread with its own connection runs retain.apply at start and then every few
minutes.  It competes with the writer only for SQLite's write lock, one short batch
at a time (the writer's busy timeout waits a batch out), and with the parser only for
the GIL between statements.  Stopping does not wait for a run to end: every step of
retention is a transaction of its own, and the archive order survives a kill.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Callable

from . import retain, schema
from .retain_size import NO_AUTO_VACUUM, incremental

DEFAULT_EVERY_S = 300.0


def parse(text: str) -> tuple[retain.Policy, float]:
    """'raw=7d,max-size=2GB,every=10m' -> (Policy, seconds between runs); every= is
    ks-ingest's own key, the others are ks-retain's options."""
    every = [DEFAULT_EVERY_S]

    def set_every(value: str) -> None:
        every[0] = retain.parse_age(value) / 1e9
        if every[0] <= 0:
            raise ValueError("every= must be longer than 0s")

    return retain.parse_spec(text, {"every": set_every}), every[0]


class LiveRetention:
    def __init__(self, db_path: str, policy: retain.Policy, every_s: float, warn: Callable[[str], None]):
        self.db_path, self.policy, self.every_s, self.warn = str(db_path), policy, every_s, warn
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ks-retain", daemon=True)

    def start(self) -> "LiveRetention":
        self._thread.start()
        return self

    def stop(self, wait_s: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(wait_s)

    def _loop(self) -> None:
        try:
            conn = schema.connect(self.db_path)
        except sqlite3.Error as e:
            self.warn(f"retention: cannot open {self.db_path}: {e}; no rows will be dropped")
            return
        if not incremental(conn):
            self.warn("retention: " + NO_AUTO_VACUUM.format(db=self.db_path))
        while not self._stop.is_set():
            self._once(conn)
            self._stop.wait(self.every_s)
        conn.close()

    def _once(self, conn: sqlite3.Connection) -> None:
        """One run; a failure is told and the next run tries again."""
        try:
            gone = retain.apply(conn, self.policy, time.time_ns())
        except (sqlite3.Error, retain.DoesNotFit, schema.NewerSchema, ValueError) as e:
            self.warn(f"retention: {e}; trying again in {self.every_s:g} s")
            return
        finally:
            self.runs += 1
        if sum(gone.values()):
            detail = ", ".join(f"{t} {n}" for t, n in gone.items() if n)
            self.warn(f"retention: dropped {sum(gone.values()):,} rows ({detail})")
