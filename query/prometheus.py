"""The database as Prometheus metric families (used by ks-promexport).

What is exported is declared in prom_spec.py; this module puts the parts together:

* histograms and interval counters: cumulative over ALL stored rows, so ``rate()``
  over any range sees exactly the samples of that range, folded in incrementally
  (prom_fold.py) into totals kept in a state file (prom_state.py), with ``le``
  bounds from prom_bounds.py;
* gauges and the kernel's counters from the newest rows, the RTT design's
  percentile gauges and each table's freshness (prom_gauges.py).
"""

from __future__ import annotations

import json
import time

from ..ingest import events as ev
from . import prom_fold, prom_gauges
from .prom_rank import rank_table, shown
from .db import Database
from .prom_bounds import coarse_buckets, le_grid
from .prom_spec import COUNTERS, HISTOGRAMS, LATEST, unit_of
from .prom_state import State

NS = 1_000_000_000


class Exporter:
    def __init__(self, db: Database, state: State, *, top: int = 10, per_octave: int = 4,
                 window_s: float = 300, stale_s: float = 300, host: str | None = None, now_ns: int | None = None,
                 rtt_gauges: bool = True):
        self.rtt_gauges = rtt_gauges
        self.db, self.state, self.top, self.per_octave = db, state, top, per_octave
        self.window_s, self.stale_s, self.host = window_s, stale_s, host
        self.now = now_ns or time.time_ns()

    def update(self) -> None:
        """Fold every row added since the last run into the totals."""
        prom_fold.update(self.db, self.state, top=self.top, host=self.host)
        for spec in LATEST:   # interfaces and devices: the newest readings of the top ones
            if spec.key and self.db.has(spec.table):
                rank_table(self.db, self.state.table(self.db, spec.table), spec.table, self.top, self.host)

    def families(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        if self.rtt_gauges:
            yield from prom_gauges.rtt_gauges(self.db, self.state, GaugeMetricFamily,
                                              self.now - int(self.window_s * NS), self.host)
        yield from self._histograms(HistogramMetricFamily)
        yield from self._counters(CounterMetricFamily)
        yield from prom_gauges.latest(self.db, GaugeMetricFamily, CounterMetricFamily,
                                      self.now - int(self.stale_s * NS), self.host, self.state)
        yield from prom_gauges.freshness(self.db, GaugeMetricFamily, self.now, self.host)

    def _histograms(self, Histogram):
        from prometheus_client.utils import floatToGoString

        def seconds(us):
            return ev.convert(us, "us", "seconds")

        for s in HISTOGRAMS:
            labels = ["host", *s.labels] + ([s.op_label] if s.op_label else [])
            fam = Histogram(s.name, s.help, labels=labels)
            for key, acc in sorted(self._hist_items(s.table, s.name)):
                values = json.loads(key)[1:]
                buckets = coarse_buckets(acc["h"], le_grid(acc["h"], self.per_octave))
                fam.add_metric([str(v) for v in values],
                               [(floatToGoString(seconds(b)), c) for b, c in buckets], seconds(acc["sum"]))
            if fam.samples:
                yield fam

    def _hist_items(self, table, name):
        st = self.state.tables.get(table)
        if not st:
            return []
        (s,) = [s for s in HISTOGRAMS if s.name == name]
        at = {c: 2 + i for i, c in enumerate(s.labels) if c in s.bounded}   # after name and host
        return [(k, v) for k, v in st.hists.items() if (key := json.loads(k))[0] == name
                and all(shown(st, c, key[i]) for c, i in at.items())]

    def _counters(self, Counter):
        fams: dict = {}
        for s in COUNTERS:
            st = self.state.tables.get(s.table)
            if not st:
                continue
            fam = fams.setdefault(s.name, Counter(s.name, s.help, labels=["host", *s.labels()]))
            unit = s.unit or (unit_of(s.table, s.column) if s.column else "")
            extra = [v for _, v in s.extra]
            for key, total in sorted(st.counts.items()):
                name, host, label, *rest = json.loads(key)
                also, fixed = rest[:len(s.also)], rest[len(s.also):]
                if name == s.name and fixed == extra and (not s.label or shown(st, s.label, label)):
                    values = ([str(label)] if s.label else []) + [str(v) for v in also] + extra
                    fam.add_metric([str(host), *values], ev.convert(total, unit, ev.base_unit(unit)))
        yield from (f for f in fams.values() if f.samples)
