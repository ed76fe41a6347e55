"""Every record the BPF programs hand to Python is laid out once in C (bpf/*.bpf.c)
and described once in Python (a CStruct in collectors/): here the two are held
against each other, through the object's own BTF, so a field added, moved or resized
on one side only fails instead of decoding garbage."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import shutil
import struct
import subprocess

import pytest

from conftest import REPO
from kernelsight import collectors
from kernelsight.collectors.decode import CStruct

pytestmark = pytest.mark.skipif(shutil.which("bpftool") is None, reason="needs bpftool")


def declared() -> list[tuple[str, CStruct]]:
    out = []
    for mod in pkgutil.iter_modules(collectors.__path__):
        m = importlib.import_module(f"kernelsight.collectors.{mod.name}")
        out += [(f"{mod.name}.{n}", v) for n, v in vars(m).items() if isinstance(v, CStruct)]
    return out


def btf_struct(obj: str, name: str) -> dict:
    out = subprocess.run(["bpftool", "btf", "dump", "file", str(REPO / "bpf" / f"{obj}.bpf.o"),
                          "-j"], capture_output=True, text=True, check=True).stdout
    found = [t for t in json.loads(out)["types"] if t["kind"] == "STRUCT" and t["name"] == name]
    assert found, f"struct {name} is not in {obj}.bpf.o's BTF (KS_BTF_TYPE({name})?)"
    return found[0]


def items(fmt: str) -> list[tuple[int, int]]:
    """(offset, size) of each field a struct format unpacks; pad bytes are none."""
    order, body = fmt[0], fmt[1:]
    out, pos = [], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", body):
        n = int(count or 1)
        size = struct.calcsize(order + code)
        if code == "x":
            pos += n
        elif code in "sp":
            out.append((pos, n))
            pos += n
        else:
            out += [(pos + k * size, size) for k in range(n)]
            pos += n * size
    return out


def test_every_bpf_record_has_a_checked_layout():
    names = {f"{c.obj}:{c.c_name}" for _, c in declared()}
    assert {"sched:wait_event", "sched:proc_stats", "syscalls:syscall_event",
            "syscalls:call_stats", "pagefaults:fault_event", "pagefaults:proc_faults",
            "rtt:tcp_event", "rtt:ks_sample_state"} <= names


@pytest.mark.parametrize("where,layout", declared(), ids=lambda v: v if isinstance(v, str) else "")
def test_python_layout_matches_the_c_struct(where, layout):
    t = btf_struct(layout.obj, layout.c_name)
    offsets = [m["bits_offset"] // 8 for m in t["members"]]
    end = layout.size if layout.prefix else t["size"]
    if layout.prefix:
        assert end in offsets, f"{where} ends inside a member of struct {layout.c_name}"
    else:
        assert layout.size == t["size"], (where, layout.size, t["size"])
    spans = [(m["name"], lo, hi) for m, lo, hi in zip(t["members"], offsets, offsets[1:] + [end])
             if lo < end]
    fields = items(layout.format)
    # Each C member starts where a Python field starts (padding members excepted),
    # and each Python field lies within one member (a u64 array may be several).
    starts = {lo for name, lo, _ in spans if not name.lstrip("_").startswith("pad")}
    assert {o for o, _ in fields} >= starts, (where, sorted(starts), fields)
    for off, size in fields:
        assert any(lo <= off and off + size <= hi for _, lo, hi in spans), (where, off, size, spans)
