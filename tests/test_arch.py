"""The build for another architecture: arm64's objects compile and its syscall table
is its own (kernelsight builds for x86_64 and aarch64; see README)."""

from __future__ import annotations

import subprocess

import pytest
from conftest import REPO

from kernelsight.bpf import build, sysnr
from kernelsight.collectors import syscall_table

ARCHES = {"x86_64": "x86", "aarch64": "arm64"}   # uname -m: libbpf's __TARGET_ARCH_


@pytest.mark.parametrize("arch", ARCHES)
def test_every_bpf_object_compiles_for(arch, tmp_path):
    assert f"-D__TARGET_ARCH_{ARCHES[arch]}" in build.cflags(arch)
    sources = sorted((REPO / "bpf").glob("*.bpf.c"))
    assert len(sources) >= 5
    for src in sources:
        obj = build.compile_bpf(src, tmp_path / src.name.replace(".c", ".o"), arch=arch)
        assert obj.read_bytes()[:4] == b"\x7fELF", src


@pytest.mark.parametrize("arch", ARCHES)
def test_syscall_numbers_called_by_number_match_the_arch_table(arch):
    table = {name: nr for nr, name in syscall_table.parse(build.syscall_table(arch)).items()}
    assert len(table) > 250
    for name, by_machine in sysnr.NUMBERS.items():
        assert table[name] == by_machine[arch], (arch, name)


def test_the_tables_differ_by_arch_as_the_kernels_do():
    """x86_64 keeps its historical numbers; arm64 the generic ones (read is 0 vs 63)."""
    x86, arm = (syscall_table.parse(build.syscall_table(a)) for a in ARCHES)
    assert (x86[0], x86[1], arm[63], arm[64]) == ("read", "write", "read", "write")
    assert "open" in x86.values() and "open" not in arm.values()   # arm64 has only openat


def test_an_unknown_arch_is_refused_with_its_name():
    with pytest.raises(subprocess.CalledProcessError) as e:
        build.cflags("riscv64")
    assert "riscv64" in e.value.stderr and "x86_64 or aarch64" in e.value.stderr
