"""ks-promexport's state file: the totals so far and the last row seen, per table.

Histograms and interval counters are cumulative over ALL stored rows, so that
``rate()`` over any range sees exactly the samples of that range; the state file
remembers the totals, so a run only reads the rows added since the previous one.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass, field

from .db import Database

STATE_VERSION = 1


def default_state_dir(db_path: str) -> str:
    """Where ks-promexport keeps its state unless --state-dir says: beside the
    database (one function, so it follows wherever the database's default goes).
    Not in node_exporter's textfile directory, which is node_exporter's to read."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), "promexport-state")


def state_path(state_dir: str, mode: str) -> str:
    """The state file of one mode ("textfile" or "listen"): each keeps its own
    totals, so a cron run and a --listen exporter never wait on each other."""
    os.makedirs(state_dir, exist_ok=True)
    return os.path.join(state_dir, f"{mode}.state")


def adopt_old_state(old: str, new: str) -> bool:
    """Upgrade path: a state file kept where older versions put it (in the textfile
    directory) is moved to its new place once, so counters carry on, not reset."""
    if os.path.exists(new) or not os.path.exists(old):
        return False
    shutil.move(old, new)   # a rename, or a copy when the state dir is on another filesystem
    try:
        os.unlink(old + ".lock")
    except OSError:
        pass
    return True


@dataclass
class TableState:
    last_id: int = 0
    last_ts: int | None = None
    # key (json list of label values) -> {"h": {bucket: count}, "sum": us, "n": count}
    hists: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)    # "name|json labels" -> total
    named: dict = field(default_factory=dict)     # bounded column -> [values with their own series]
    # ranked column of a raw table -> {"id": last row read, "steps": [[step, value, quantity]]}
    recent: dict = field(default_factory=dict)


class Busy(Exception):
    """Another run holds the state file (a first run over a big database takes a while)."""


class State:
    def __init__(self, path: str | None):
        self.path = path
        self.tables: dict[str, TableState] = {}
        self._lock = None
        if path:
            self._lock = open(path + ".lock", "a")
            try:  # two cron runs never interleave; the later one steps aside
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._lock.close()
                self._lock = None
                raise Busy(f"another ks-promexport is updating {path}; this run skips") from None
            self._load()

    def _load(self) -> None:
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return
        if data.get("version") != STATE_VERSION:
            return
        for name, t in data.get("tables", {}).items():
            st = TableState(t["last_id"], t.get("last_ts"), t.get("hists", {}), t.get("counts", {}),
                            t.get("named", {}), t.get("recent", {}))
            for v in st.hists.values():
                v["h"] = {int(k): c for k, c in v["h"].items()}
            self.tables[name] = st

    def save(self) -> None:
        if not self.path:
            return
        data = {"version": STATE_VERSION, "tables": {
            name: {"last_id": t.last_id, "last_ts": t.last_ts, "hists": t.hists, "counts": t.counts,
                   "named": t.named, "recent": t.recent} for name, t in self.tables.items()}}
        tmp = f"{self.path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(tmp, self.path)

    def close(self) -> None:
        if self._lock:
            self._lock.close()
            self._lock = None

    def table(self, db: Database, name: str) -> TableState:
        """This table's state, started afresh when the rows we saw are gone (a new database)."""
        st = self.tables.get(name)
        if st and st.last_id:
            row = db.one(f"SELECT timestamp FROM {name} WHERE id = ?", [st.last_id])
            if row is None or row[0] != st.last_ts:
                st = None
        if st is None:
            st = self.tables[name] = TableState()
        return st
