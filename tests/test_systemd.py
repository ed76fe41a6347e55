"""contrib/systemd: the units install with `make install-systemd`, pass
`systemd-analyze verify`, and each collector really runs with only the
capabilities its unit grants it (and fails without any one of them)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import BIN, REPO, needs_root

UNITS = REPO / "contrib" / "systemd"
ANALYZE = shutil.which("systemd-analyze")
COLLECTORS = ("rtt", "syscalls", "iolat", "sched", "pagefaults", "procfs", "perf")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`make install-systemd` into a scratch root, the ks-* commands from this venv."""
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["make", "-s", "install-systemd", f"DESTDIR={root}", f"BINDIR={BIN}"], cwd=REPO,
                   check=True, capture_output=True)
    return root / "etc" / "systemd" / "system"


def verify(unitdir, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", "--man=no", *[str(unitdir / n) for n in names]],
                          capture_output=True, text=True, cwd=unitdir)


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (Debian package: systemd)")
def test_systemd_analyze_verify_is_clean(installed):
    shutil.copy(installed / "kernelsight-collector@.service", installed / "kernelsight-collector@procfs.service")
    shutil.copy(installed / "kernelsight-collector@.service", installed / "kernelsight-collector@rtt.service")
    p = verify(installed, "kernelsight.target", "kernelsight-ingest.socket", "kernelsight-ingest.service",
               "kernelsight-promexport.service", "kernelsight-collector@procfs.service",
               "kernelsight-collector@rtt.service", "kernelsight-retain.timer")
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (Debian package: systemd)")
@pytest.mark.skipif(not (BIN / "ks-retain").exists(), reason="ks-retain is not on this branch yet (issue 11)")
def test_the_retain_unit_verifies(installed):
    p = verify(installed, "kernelsight-retain.service")
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr


def granted(name: str) -> list[str]:
    """AmbientCapabilities of kernelsight-collector@NAME: the template's, unless a drop-in resets them."""
    caps: list[str] = []
    for f in [UNITS / "kernelsight-collector@.service",
              *sorted((UNITS / f"kernelsight-collector@{name}.service.d").glob("*.conf"))]:
        for line in f.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "AmbientCapabilities":
                caps = [] if not value.strip() else caps + value.split()
    return caps


def run_with(name: str, caps: list[str]) -> subprocess.CompletedProcess:
    """ks-NAME as user nobody holding exactly ``caps`` (ambient, as systemd grants them)."""
    spec = ",".join(["-all"] + [f"+{c.removeprefix('CAP_').lower()}" for c in caps])
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           f"--inh-caps={spec}", f"--ambient-caps={spec}", f"--bounding-set={spec}",
                           str(BIN / f"ks-{name}"), "-v", "--duration", "1"], capture_output=True, timeout=60)


@needs_root
@pytest.mark.parametrize("name", COLLECTORS)
def test_each_collector_runs_with_only_its_capabilities(name):
    caps = granted(name)
    p = run_with(name, caps)
    assert p.returncode == 0, p.stderr.decode()
    # attached to the kernel (BPF, perf), or sampling /proc (procfs): not just a clean exit
    said = p.stderr.decode()
    assert ("attached" in said) if caps else p.stdout.count(b'"type"') >= 1, said
    # and each granted capability is needed: without it the collector says so (77)
    for cap in caps:
        q = run_with(name, [c for c in caps if c != cap])
        assert q.returncode == 77, (cap, q.stderr.decode())
