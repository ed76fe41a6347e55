"""Renders docs/events.md, the event contract, from the registry (`make docs`)."""

from __future__ import annotations

import sys

from . import events as ev
from . import histogram

INTRO = f"""\
# The kernelsight event contract

Every ks command speaks one format: **one JSON object per line**, UTF-8. Every event has

| field | type | meaning |
|---|---|---|
| `type` | string | the event type below; it decides the SQLite table |
| `timestamp` | integer | nanoseconds since the Unix epoch, wall clock |
| `host` | string | hostname of the machine the event describes |

and its other fields are named exactly as the columns of its table. ks-ingest also accepts
the original KernelSight tools' output (their type names are listed as aliases; lines with
no `type` are recognised by their keys).

Histogram fields (unit `hist_us`) hold `[[bucket, count], ...]` in the one histogram scheme
of kernelsight (`ingest/histogram.py`, `bpf/hist.bpf.h`): values in whole microseconds;
below {histogram.EXACT} us one bucket per value; above, each power of two split into
{histogram.SUB} equal buckets, so any percentile read from it is within
{100 / histogram.SUB:.2f} % of the exact value. Bucket *i* holds `[lower(i), upper(i))`;
the last bucket ({histogram.OVERFLOW}) holds {1 << histogram.MAX_BITS} us and more. Summing
the bucket lists of any window gives that window's histogram.

This file is generated from `ingest/events.py` by `make docs`; a test keeps it current.
"""


def render() -> str:
    out = [INTRO]
    out.append("| type | table | from | aliases |\n|---|---|---|---|")
    for t in ev.TYPES:
        aliases = ", ".join(f"`{a}`" for a in t.aliases)
        out.append(f"| [`{t.name}`](#{t.name}) | `{t.table}` | {t.producer} | {aliases} |")
    out.append("")
    for t in ev.TYPES:
        out.append(f"## {t.name}\n\n{t.doc} Table `{t.table}`.\n")
        if t.signature:
            keys = ", ".join(f"`{k}`" for k in t.signature)
            out.append(f"A line without `type` is taken for this type when it has {keys}.\n")
        out.append("| field | SQL type | unit | required | meaning |\n|---|---|---|---|---|")
        for c in ev.columns_of(t):
            req = "yes" if c.required else ""
            meaning = "; ".join(x for x in (c.doc, c.source and f"from `{c.source}`") if x)
            out.append(f"| `{c.name}` | {c.sql} | {c.unit} | {req} | {meaning} |")
        out.append("")
        if t.rollup:
            out.append(rollup_doc(t))
    return "\n".join(out)


def _names(cols) -> str:
    return ", ".join(f"`{c}`" for c in cols)


def rollup_doc(t: ev.EventType) -> str:
    """The paragraph on a table's per-minute rollup (events.Rollup)."""
    r = t.rollup
    what = ["`rows`, `first_ts`, `last_ts`"]
    if "interval_ns" in t.column_names:
        what.append("the last row's `interval_ns`")
    if r.sums:
        what.append(f"the sums of {_names(r.sums)}")
    if r.maxes:
        what.append(f"the largest {_names(r.maxes)}")
    if t.hist_columns:
        what.append(f"the bucket lists of {_names(t.hist_columns)} (appended, summed per "
                    "bucket once long: a reader sums a bucket's counts)")
    if r.counters:
        what.append(f"for each of {_names(r.counters)} its first and last reading and its "
                    "increase within the minute (`_first`, `_last`, `_inc`; a reading below the "
                    "previous one is a reset), and `ordered` (0 once a row came in older than "
                    "the minute's last: queries read that minute's rows instead)")
    return (f"Per minute: `{t.rollup_table}` holds one row per minute (`minute`, ns) and "
            f"{_names(('host', *r.keys))}: {'; '.join(what)}. SQLite triggers on `{t.table}` "
            f"keep it as rows are inserted or deleted, whoever writes them; queries over long "
            f"windows read it for their whole minutes.{_tiers_doc(t)}\n")


def _tiers_doc(t: ev.EventType) -> str:
    """The coarser tiers (events.TIERS) of a table's rollup, one sentence each."""
    return "".join(f" `{t.tier_table(tier)}` has the same columns {tier.doc} (`{tier.time}`, "
                   f"ns; `ks-retain --{tier.option}`, docs/tiers.md)." for tier in ev.TIERS[1:])


if __name__ == "__main__":
    sys.stdout.write(render())
