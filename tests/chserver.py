"""A throwaway clickhouse-server for tests and benchmarks: its own config, data and
logs in a temporary folder, listening on loopback ports of its own (never 9000 or
8123, which a real server on the machine may hold), stopped afterwards.

Debian's clickhouse-server package (Makefile APT_PACKAGES) provides the binary; the
service it installs is not used.
"""

from __future__ import annotations

import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

# clickhouse-driver logs every refused connection with a traceback: while we wait
# for the server to come up, those are expected.
logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)

BINARY = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
START_TIMEOUT_S = 60.0

CONFIG = """\
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{dir}/log/server.log</log>
        <errorlog>{dir}/log/server.err.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>20</max_concurrent_queries>
    <mlock_executable>false</mlock_executable>
    <timezone>UTC</timezone>
</yandex>
"""

USERS = """\
<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default></default></quotas>
</yandex>
"""


def available() -> bool:
    return os.access(BINARY, os.X_OK)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``start()`` runs the server in the foreground of a child process; ``kill()``
    ends it with SIGKILL (a crash), ``stop()`` with SIGTERM; ``start()`` again reuses
    the same data and ports."""

    def __init__(self, folder: pathlib.Path):
        self.dir = pathlib.Path(folder)
        self.tcp_port, self.http_port = _free_port(), _free_port()
        self.proc: subprocess.Popen | None = None
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "config.xml").write_text(CONFIG.format(
            dir=self.dir, tcp_port=self.tcp_port, http_port=self.http_port))
        (self.dir / "users.xml").write_text(USERS)

    def url(self, database: str = "kernelsight") -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}/{database}"

    def start(self) -> "Server":
        self.proc = subprocess.Popen(
            [BINARY, f"--config-file={self.dir / 'config.xml'}"], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "log" / "stderr.log", "ab"), start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited with {self.proc.returncode}: "
                                   f"{self._log_tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"clickhouse-server did not answer in {START_TIMEOUT_S:.0f} s: {self._log_tail()}")

    def _answers(self) -> bool:
        from clickhouse_driver import Client

        try:
            Client("127.0.0.1", port=self.tcp_port, connect_timeout=1).execute("SELECT 1")
            return True
        except Exception:   # noqa: BLE001 - any failure means "not yet"
            return False

    def _log_tail(self) -> str:
        logs = [self.dir / "log" / n for n in ("server.err.log", "stderr.log")]
        text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
        return text[-2000:] or "(no log)"

    def kill(self) -> None:
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
