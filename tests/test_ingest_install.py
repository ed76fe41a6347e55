"""A non-editable install works: the wheel carries the ingest code and the compiled
BPF objects, and ks-ingest from a fresh venv creates the schema without the source
tree."""

from __future__ import annotations

import pathlib
import site
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

from kernelsight.ingest import events as ev

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    (whl,) = out.glob("kernelsight-*.whl")
    return whl


def test_wheel_carries_ingest_and_bpf_objects(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("cli", "parse", "pipeline", "reader", "sink", "schema", "events"):
        assert f"kernelsight/ingest/{module}.py" in names
    sources = sorted(p.name for p in (REPO / "bpf").glob("*.bpf.c"))
    if not sources:
        pytest.skip("no bpf/*.bpf.c yet: nothing to compile into the wheel")
    for src in sources:
        assert f"kernelsight/bpf/{src[:-2]}.o" in names, f"{src} compiled object missing from the wheel"


def test_ks_ingest_from_a_fresh_venv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # Dependencies (typer, orjson, ...) come from this venv's site-packages as a plain
    # path; its .pth files (the editable kernelsight) are not processed from there, so
    # kernelsight itself can only come from the wheel.
    ours = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    pathlib.Path(purelib, "deps.pth").write_text("\n".join(ours) + "\n")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                        "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "no such option: --python" in r.stderr:
        pytest.skip("pip too old for --python")
    assert r.returncode == 0, r.stderr[-3000:]
    where = subprocess.run([str(py), "-c", "import kernelsight.ingest.schema as s; print(s.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    db = tmp_path / "fresh" / "ks.db"
    r = subprocess.run([str(venv / "bin" / "ks-ingest"), "--init-only", "--db-path", str(db)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert r.returncode == 0, r.stderr
    import sqlite3
    conn = sqlite3.connect(db)
    tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {t.table for t in ev.TYPES} <= tables
