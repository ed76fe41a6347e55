"""Rows out: an aligned table for people, JSON lines or CSV for pipes."""

from __future__ import annotations

import csv
import io
import sys

FORMATS = ("table", "json", "csv")
# Machine-only keys, left out of the table a person reads (json and csv keep them).
_TABLE_HIDDEN = ("timestamp_ns",)


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


def write(rows: list[dict], fmt: str, out=None, columns: list[str] | None = None) -> None:
    out = out or sys.stdout
    if fmt == "json":
        import orjson

        opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        out.write("".join(orjson.dumps(r, option=opts, default=_json_default).decode() for r in rows))
    elif fmt == "csv":
        cols = columns or _columns(rows)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])
        out.write(buf.getvalue())
    else:
        out.write(table(rows, columns))
    out.flush()


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


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return ""
    cols = [c for c in (columns or _columns(rows)) if c not in _TABLE_HIDDEN]
    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]

    def line(values):
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip() + "\n"

    head = line(cols)
    rule = "  ".join("-" * w for w in widths) + "\n"
    return head + rule + "".join(line(row) for row in cells)


def summary_text(rows: list[dict], title: str) -> str:
    """The summary as a person reads it: sections, subjects aligned, one finding a line."""
    if not rows:
        return title + "\n\n(no data in this window)\n"
    width = min(max(len(str(r["subject"])) for r in rows), 20)
    out = [title, ""]
    section = None
    for r in rows:
        if r["section"] != section:
            section = r["section"]
            out.append(section)
        out.append(f"  {str(r['subject'])[:width].ljust(width)}  {r['text']}")
    return "\n".join(out) + "\n"
