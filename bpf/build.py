"""BPF objects built outside `make bpf` (tests' and benches' own programs, another
architecture's objects) with the Makefile's flags: the one list is BPF_CFLAGS there.

Needs the source tree (the Makefile); the installed package ships built objects.
"""

from __future__ import annotations

import functools
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parent.parent


def _make(target: str, arch: str | None) -> str:
    args = ["make", "-s", "--no-print-directory", "-C", str(REPO), target]
    return subprocess.run(args + ([f"ARCH={arch}"] if arch else []), check=True,
                          capture_output=True, text=True).stdout


@functools.cache
def cflags(arch: str | None = None) -> tuple[str, ...]:
    """clang's flags for a BPF object of ``arch`` (uname -m's name; default: this machine)."""
    return tuple(_make("print-bpf-cflags", arch).split())


def syscall_table(arch: str | None = None) -> str:
    """``arch``'s syscalls.tsv text (nr<TAB>name lines), from the UAPI headers."""
    return _make("print-syscalls", arch)


def compile_bpf(src: pathlib.Path, obj: pathlib.Path, *defines: str,
                arch: str | None = None) -> pathlib.Path:
    """Compile ``src`` into ``obj`` (vmlinux.h must exist: `make bpf/vmlinux.h`)."""
    subprocess.run(["clang", *cflags(arch), *defines, "-c", str(src), "-o", str(obj)],
                   check=True, capture_output=True, text=True)
    return obj
