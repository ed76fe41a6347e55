"""Who holds a lock on a database file: the pids /proc/locks names for it.

SQLite locks byte ranges of the database file (rollback journal) or of its -shm file
(WAL), with POSIX or OFD locks; /proc/locks lists each with the holder's pid (-1 for
an OFD lock, whose owner it does not know) and the file as major:minor:inode.
"""

from __future__ import annotations

import os
import sqlite3
import time


def holders(db_path: str, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Pids holding a lock on the database, its -wal or its -shm (sorted; maybe none),
    but for those in ``exclude`` and their children (ks-ingest's writer process holds
    a read lock while it waits for the write lock: it is not whom we wait for)."""
    inodes = set()
    for suffix in ("", "-wal", "-shm"):
        try:
            st = os.stat(f"{db_path}{suffix}")
        except OSError:
            continue
        inodes.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    pids = set()
    try:
        with open("/proc/locks") as f:
            for line in f:
                pid = _holder(line, inodes)
                if pid is not None and pid > 0 and pid not in exclude:
                    pids.add(pid)
        pids = {p for p in pids if _parent(p) not in exclude}
    except OSError:
        pass          # no /proc: the message just names no pid
    return sorted(pids)


def _parent(pid: int) -> int | None:
    """The parent of a process (/proc/PID/stat's fourth field), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _holder(line: str, inodes: set) -> int | None:
    # "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; a waiter's line has "->"
    parts = line.replace("->", "").split()
    if len(parts) < 6:
        return None
    try:
        major, minor, ino = parts[5].split(":")
        where = (int(major, 16), int(minor, 16), int(ino))
        return int(parts[4]) if where in inodes else None
    except ValueError:
        return None


def describe(db_path: str, exclude: frozenset[int] = frozenset()) -> str:
    pids = holders(db_path, exclude)
    if not pids:
        return f"waiting for a lock on {db_path} held by another process"
    return f"waiting for a lock on {db_path} held by pid {', '.join(map(str, pids))}"


class WaitNotice:
    """Says, ``after`` seconds into a wait for the database and then every ``every``
    seconds, who holds the lock, so a blocked ks-ingest is never silent."""

    def __init__(self, db_path: str, say, *, after: float = 2.0, every: float = 30.0,
                 exclude: frozenset[int] = frozenset()):
        self.db_path, self.say = str(db_path), say
        self.after, self.every, self.exclude = after, every, exclude | {os.getpid()}
        self._since: float | None = None
        self._next = 0.0

    def tick(self) -> None:
        """Called while still waiting."""
        import time

        now = time.monotonic()
        if self._since is None:
            self._since, self._next = now, now + self.after
        elif now >= self._next:
            self._next = now + self.every
            self.say(f"{describe(self.db_path, self.exclude)} ({now - self._since:.0f} s so far)")

    def done(self) -> None:
        self._since = None


def retry_busy(fn, what: str, retries: int = 50):
    """fn() again while another writer (a live ks-ingest) holds the lock past the
    connection's busy timeout: a failed transaction changed nothing."""
    for attempt in range(retries):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise sqlite3.OperationalError(f"{what}: database stayed busy")
