"""Rows out: an aligned table for people, JSON lines or CSV for pipes.

A table is for a person at a terminal: it fits the terminal's width (80 columns in
a pipe), leaving out the right-most columns first (the queries put keys and the
main numbers first), and says on stderr what it left out and how to see it all;
numbers carry human units there (``1.8 MB/s``, ``12.3 ms``).  json and csv are for
tools: every value raw, times ISO 8601, booleans true/false.
"""

from __future__ import annotations

import csv
import io
import shutil
import sys
import textwrap

from . import times, units
from ..ingest.events import convert

FORMATS = ("table", "json", "csv")
# Machine-only keys, left out of the table a person reads (json and csv keep them).
_TABLE_HIDDEN = ("timestamp_ns",)
# Columns that hold an ISO 8601 time: a table shows them as local time with the zone.
TIME_COLUMNS = ("time", "first", "last", "newest", "window_start")
GAP = "  "   # between table columns


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


def terminal_width() -> int:
    """$COLUMNS, else the terminal's width, else 80 (a pipe, cron)."""
    return shutil.get_terminal_size((80, 24)).columns


def write(rows: list[dict], fmt: str, out=None, columns: list[str] | None = None,
          width: int | None = None, prog: str = "ks-query", header: bool = True) -> None:
    """Write ``rows`` as ``fmt``; a table fits ``width`` (default: the terminal's; 0: no limit)."""
    out = out or sys.stdout
    if fmt == "json":
        import orjson

        opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        out.write("".join(orjson.dumps(r, option=opts, default=_json_default).decode() for r in rows))
    elif fmt == "csv":
        cols = columns or _columns(rows)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if header:
            w.writerow(cols)
        for r in rows:
            w.writerow([_csv_value(r.get(c)) for c in cols])
        out.write(buf.getvalue())
    else:
        text, left_out = fitted_table(rows, columns, terminal_width() if width is None else width)
        out.write(text)
        if left_out:
            n = len(left_out)
            sys.stderr.write(f"{prog}: {n} column{'s' * (n > 1)} left out to fit {width or terminal_width()} "
                             f"characters: {', '.join(left_out)} (--wide shows every column)\n")
    out.flush()


def write_chunks(chunks, fmt: str, out=None, columns: list[str] | None = None) -> None:
    """json or csv, written chunk by chunk as the rows come (the csv header once)."""
    first = True
    for rows in chunks:
        write(rows, fmt, out, columns=columns, header=first)
        first = False
    if first:   # no row: csv still says its columns
        write([], fmt, out, columns=columns)


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"   # not Python's True/False
    return v


def _json_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()  # a BLOB from `ks-query sql`
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _columns(rows: list[dict]) -> list[str]:
    cols: dict = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def cell(v) -> str:
    """A value without a unit, as a table shows it."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) >= 100:
            return f"{v:,.1f}"
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# Column-name suffixes (the registry's unit names) and how a table shows their values;
# the heading drops the suffix, since the value now says its unit.
_LATENCY = {"_ns": "ns", "_us": "us", "_ms": "ms"}


def human(column: str, v) -> str:
    """``v`` of ``column`` as a person reads it, in the unit its name carries."""
    if isinstance(v, str) and column in TIME_COLUMNS:
        try:
            return times.from_iso(v)
        except ValueError:
            return v
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return cell(v)
    if column.endswith("_bytes_per_s"):
        return units.bytes_text(v) + "/s"
    if column.endswith("_bytes"):
        return units.bytes_text(v)
    if column.endswith("_kb"):
        return units.bytes_text(convert(v, "kB", "bytes"))
    for suffix, unit in _LATENCY.items():
        if column.endswith(suffix):
            return units.latency_us_text(convert(v, unit, "us"))
    if column.endswith("_per_s") or column.endswith("_iops"):
        return units.count_text(v) + "/s"
    if column.endswith("_pct"):
        return cell(v) + "%"
    if column.endswith("_age_s"):
        return times.span(v)
    return cell(v)


def heading(column: str) -> str:
    """The column's name without the unit its values now show."""
    if column.endswith("_per_s") and column != "per_s":
        return column[: -len("_per_s")] + "/s"
    for suffix in (*_LATENCY, "_kb", "_pct", "_age_s"):
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)] + ("%" if suffix == "_pct" else "_age" if suffix == "_age_s" else "")
    return column


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Every column, however wide (what --wide prints)."""
    return fitted_table(rows, columns, 0)[0]


def fitted_table(rows: list[dict], columns: list[str] | None, width: int) -> tuple[str, list[str]]:
    """The aligned table in at most ``width`` characters a line (0: no limit), and the
    names of the columns left out to get there: first a host column that has one value
    (one machine's database), then the right-most columns, never the first."""
    if not rows:
        return "", []
    cols = [c for c in (columns or _columns(rows)) if c not in _TABLE_HIDDEN]
    heads = [heading(c) for c in cols]
    cells = [[human(c, r.get(c)) for c in cols] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    shown = list(range(len(cols)))
    for i in _drop_order(rows, cols):
        if not width or len(shown) <= 1 or sum(widths[j] for j in shown) + len(GAP) * (len(shown) - 1) <= width:
            break
        shown.remove(i)
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]

    def line(values):
        parts = [values[i].rjust(widths[i]) if numeric[i] else values[i].ljust(widths[i]) for i in shown]
        return GAP.join(parts).rstrip() + "\n"

    rule = GAP.join("-" * widths[i] for i in shown) + "\n"
    left_out = [c if c != "host" else f"host (every row: {rows[0].get('host')})"
                for i, c in enumerate(cols) if i not in shown]
    return line(heads) + rule + "".join(line(row) for row in cells), left_out


def _drop_order(rows: list[dict], cols: list[str]) -> list[int]:
    """Which columns give way first when a table is too wide."""
    order = list(range(len(cols) - 1, 0, -1))
    if "host" in cols and len({r.get("host") for r in rows}) == 1:
        order.remove(cols.index("host")) if cols.index("host") else None
        order.insert(0, cols.index("host"))
    return order


def summary_text(rows: list[dict], title: str, width: int | None = None) -> str:
    """The summary as a person reads it: sections, subjects aligned, one finding a line,
    folded between words to ``width`` (the terminal's by default)."""
    if not rows:
        return title + "\n\n(no data in this window)\n"
    width = width or terminal_width()
    subject = min(max(len(str(r["subject"])) for r in rows), 20)
    indent = " " * (2 + subject + 2)
    out = [title, ""]
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            out.append(section)
        first = f"  {str(r['subject'])[:subject].ljust(subject)}  "
        out.extend(textwrap.wrap(r["text"], max(width, len(indent) + 20), initial_indent=first,
                                 subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) or [first.rstrip()])
    return "\n".join(out) + "\n"
