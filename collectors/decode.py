"""Kernel values as ks events show them, in one place for every collector.

The layouts of the records the BPF programs hand over (CStruct), task names (the
kernel's 16-byte comm), device numbers (dev_t as the block layer keeps it) and the
--pid/--comm task filter that bpf/task_filter.bpf.h applies.
"""

from __future__ import annotations

import struct

COMM_LEN = 16     # TASK_COMM_LEN: 15 characters and the NUL
MINORBITS = 20    # the kernel's dev_t layout: major << 20 | minor


class CStruct(struct.Struct):
    """A Python layout of a C struct in bpf/<obj>.bpf.c, named so that it is checked:
    tests/test_structs.py compares its size and field offsets with the struct in the
    object's BTF.  ``prefix``: the layout covers only the struct's leading members."""

    def __init__(self, obj: str, c_name: str, fmt: str, prefix: bool = False):
        super().__init__(fmt)
        self.obj, self.c_name, self.prefix = obj, c_name, prefix


def comm_text(raw: bytes) -> str:
    """A comm[16] field as text: up to the first NUL, undecodable bytes replaced."""
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def comm_filter(comm: str) -> bytes:
    """A --comm value as the kernel keeps it: at most 15 bytes (it truncates longer names)."""
    return comm.encode()[:COMM_LEN - 1] + b"\0"


def task_filter(pid: int | None, comm: str | None, cgroup: str | None = None) -> dict[str, int | bytes]:
    """The rodata of task_filter.bpf.h for --pid, --comm and --cgroup (empty: every task).
    The runtime has refused a --pid that does not exist (collectors/runtime.py)."""
    rodata: dict[str, int | bytes] = {}
    if cgroup:
        from kernelsight.collectors import cgroups

        rodata["targ_cgid"] = cgroups.resolve(cgroup)[1]
    if pid is not None:
        rodata["targ_tgid"] = pid
    if comm:
        rodata["targ_comm"] = comm_filter(comm)
    return rodata


def kernel_dev(major: int, minor: int) -> int:
    return (major << MINORBITS) | minor


def split_dev(dev: int) -> tuple[int, int]:
    return dev >> MINORBITS, dev & ((1 << MINORBITS) - 1)


def disk_name(dev: int) -> str:
    """DEVNAME from /sys/dev/block/MAJ:MIN/uevent, else "MAJ:MIN"."""
    major, minor = split_dev(dev)
    try:
        with open(f"/sys/dev/block/{major}:{minor}/uevent") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "DEVNAME":
                    return value
    except OSError:
        pass
    return f"{major}:{minor}"
