"""ks-ingest --resume: read a file again after a crash without storing a line twice.

Every commit also upserts, for each input file it took lines from, how many of the
file's lines are now committed (stored, rejected or blank): ``ingest_sources``
(schema.SOURCES_SQL), in the same transaction as the rows, so the count is never
ahead of what is stored and never behind it.  ``--resume`` skips that many lines of
a file that is still the same file (same device and inode); a file put in its place
is read from its start, and said so.
"""

from __future__ import annotations

import os
import time

from . import schema
from .reader import LineSource

UPSERT = (f"INSERT OR REPLACE INTO {schema.SOURCES_TABLE} (path, dev, inode, lines, updated_ns) "
          "VALUES (?, ?, ?, ?, ?)")


class Positions:
    """The input files' lines parsed so far, handed to each commit."""

    def __init__(self):
        self.files: dict[str, tuple[str, int, int]] = {}   # source name -> (real path, dev, inode)
        self.lines: dict[str, int] = {}                    # source name -> lines parsed
        self._sent: dict[str, int] = {}

    def track(self, src: LineSource) -> None:
        """Remember a regular file's identity (pipes and stdin cannot be resumed)."""
        st = os.fstat(src.fd)
        if src.fd != 0 and os.path.isfile(src.name):
            self.files[src.name] = (os.path.realpath(src.name), st.st_dev, st.st_ino)

    def parsed(self, source: str, lines: int) -> None:
        if source in self.files:
            self.lines[source] = lines

    def moved(self) -> bool:
        """Lines parsed that no commit has covered yet (say, rejects at a file's end)."""
        return any(self._sent.get(s) != n for s, n in self.lines.items())

    def job_entry(self) -> tuple[str, str, list[tuple]] | None:
        """The upserts of the files that moved since the last commit (None: none did)."""
        now = time.time_ns()
        rows = [(*self.files[s], n, now) for s, n in self.lines.items() if self._sent.get(s) != n]
        self._sent.update(self.lines)
        return (schema.SOURCES_TABLE, UPSERT, rows) if rows else None


def committed_lines(db_path: str, src: LineSource) -> tuple[int, str]:
    """(lines to skip, what to say) for resuming ``src`` from what ``db_path`` holds."""
    path = os.path.realpath(src.name)
    try:
        conn = schema.connect(str(db_path), readonly=True)
        try:
            row = conn.execute(f"SELECT dev, inode, lines FROM {schema.SOURCES_TABLE} WHERE path = ?",
                               (path,)).fetchone()
        finally:
            conn.close()
    except Exception:    # no database yet, or one without the table: nothing committed
        row = None
    if row is None:
        return 0, f"{src.name}: nothing of it committed before: read from its start"
    st = os.fstat(src.fd)
    if (row[0], row[1]) != (st.st_dev, st.st_ino):
        return 0, (f"{src.name}: not the file an earlier run read ({row[2]:,} lines), another in its "
                   "place (its inode differs): read from its start")
    return row[2], f"{src.name}: resuming after line {row[2]:,} (committed by an earlier run)"
