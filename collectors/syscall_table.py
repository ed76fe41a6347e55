"""This architecture's syscall numbers and names.

The table is ``bpf/syscalls.tsv`` (``nr<TAB>name``), generated at build time by
``make bpf`` from the kernel UAPI headers (``asm/unistd.h``) and shipped in the
package next to the BPF objects: nothing here is typed by hand.
"""

from __future__ import annotations

import difflib
import functools
import pathlib

from kernelsight.collectors.runtime import EXIT_UNAVAILABLE, EXIT_USAGE, Fatal

def _table_path() -> pathlib.Path:
    # Installed, the package data sits next to kernelsight.bpf; editable, in ./bpf.
    from kernelsight import bpf

    return pathlib.Path(bpf.__file__).resolve().parent / "syscalls.tsv"


@functools.cache
def names() -> dict[int, str]:
    """nr -> name for every syscall of this architecture."""
    path = _table_path()
    try:
        text = path.read_text()
    except OSError as e:
        raise Fatal(f"cannot read the syscall table {path} ({e.strerror}): "
                    f"build it with `make bpf` (or reinstall kernelsight)",
                    EXIT_UNAVAILABLE) from None
    return parse(text)


def parse(text: str) -> dict[int, str]:
    """The ``nr<TAB>name`` lines of syscalls.tsv; blank and malformed lines are skipped."""
    out: dict[int, str] = {}
    for line in text.splitlines():
        nr, _, name = line.partition("\t")
        if nr.strip().isdigit() and name.strip():
            out[int(nr)] = name.strip()
    return out


def name_of(nr: int) -> str:
    """The syscall's name, or ``syscall_<nr>`` for a number the table lacks."""
    return names().get(nr) or f"syscall_{nr}"


def number_of(name: str) -> int:
    """The number of a syscall given by name (or as a number); a clear error otherwise."""
    text = name.strip().removeprefix("sys_")
    if text.isdigit():
        return int(text)
    by_name = {v: k for k, v in names().items()}
    if text in by_name:
        return by_name[text]
    close = difflib.get_close_matches(text, by_name, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise Fatal(f"unknown syscall {name!r} on this architecture{hint}", EXIT_USAGE)
