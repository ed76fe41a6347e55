"""The ctypes libbpf binding, on the real kernel: globals, maps, ring buffer, errors."""

import os
import subprocess
import sys
import time

import pytest
from conftest import REPO, needs_root

from kernelsight.bpf import build

pytestmark = needs_root

HERE = REPO / "tests" / "bpf"


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("bpfobj")
    subprocess.run(["make", "-C", str(REPO), "bpf/vmlinux.h"], check=True, capture_output=True)
    for name in ("selftest", "rejected"):
        build.compile_bpf(HERE / f"{name}.bpf.c", out / f"{name}.bpf.o")
    return out


def test_rodata_filter_maps_ring_buffer_and_bss_counters(objects):
    from kernelsight.bpf.libbpf import BpfObject, RingBuffer

    seen = []
    with BpfObject("selftest", rodata={"targ_tgid": os.getpid()},
                   path=objects / "selftest.bpf.o") as obj:
        obj.load()
        obj.attach()
        rb = RingBuffer(obj.map("events"), lambda b: seen.append(int.from_bytes(b, "little")))
        subprocess.run(["true"])  # other processes' getppid calls are filtered in the kernel
        for _ in range(25):
            os.getppid()
        rb.poll(200)
        rb.consume()
        counts = obj.map("counts")
        assert [(int.from_bytes(k, "little"), int.from_bytes(v, "little"))
                for k, v in counts.items()] == [(os.getpid(), 25)]
        assert seen == [os.getpid()] * 25
        assert obj.read_u64("hits") == 25
        assert obj.read_u64("lost_ringbuf") == 0
        assert len(counts.items(delete=True)) == 1
        assert counts.items() == []
        rb.close()


def test_detach_on_close_stops_counting(objects):
    from kernelsight.bpf.libbpf import BpfObject

    obj = BpfObject("selftest", rodata={"targ_tgid": os.getpid()}, path=objects / "selftest.bpf.o")
    obj.load()
    obj.attach()
    counts = obj.map("counts")
    os.getppid()
    before = counts.items()
    fd = os.dup(counts.fd)  # keep the map alive past close() to look at it
    obj.close()
    assert before and not obj.links
    # Freed after an RCU grace period once the last fd is closed: allow a moment.
    for _ in range(50):
        progs = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        if "on_getppid" not in progs:
            break
        time.sleep(0.05)
    assert "on_getppid" not in progs
    os.close(fd)


def test_verifier_rejection_names_the_program_and_shows_the_log(objects):
    from kernelsight.bpf.libbpf import BpfError, BpfObject

    obj = BpfObject("rejected", path=objects / "rejected.bpf.o")
    with pytest.raises(BpfError) as e:
        obj.load()
    obj.close()
    msg = str(e.value)
    assert "unchecked_deref" in msg
    assert "invalid mem access" in msg
    assert e.value.status == 1


def test_unknown_global_is_a_clear_error(objects):
    from kernelsight.bpf.libbpf import BpfError, BpfObject

    with pytest.raises(BpfError, match="no global named nope"):
        BpfObject("selftest", rodata={"nope": 1}, path=objects / "selftest.bpf.o")


def test_btf_enum_reads_drop_reasons_from_the_kernel():
    from kernelsight.bpf.libbpf import btf_enum

    reasons = btf_enum("skb_drop_reason", "SKB_DROP_REASON_")
    assert reasons[2] == "NOT_SPECIFIED"
    assert "TCP_CSUM" in reasons.values()


def test_missing_privileges_is_one_line_and_exit_77():
    code = ("from kernelsight.collectors.runtime import main_guard\n"
            "from kernelsight.bpf.libbpf import check_privileges\n"
            "import sys; sys.exit(main_guard(lambda: check_privileges('ks-test')))\n")
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 77
    assert r.stderr.count("\n") == 1 and "CAP_BPF" in r.stderr
