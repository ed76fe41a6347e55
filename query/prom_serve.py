"""ks-promexport --listen: the same metric families as the textfile, read from the
database at scrape time and served over HTTP by prometheus_client's WSGI app.

One ``Scraper`` per process: its state (the running totals, prom_state.py) lives
as long as the process and is saved after every scrape, so counters never go
backwards between scrapes nor across a restart.  Scrapes are serialised by a lock:
two at once would fold the same new rows twice.  A database that is missing or
locked answers 503 with one line of text; the exporter's own health
(ks_exporter_scrape_duration_seconds, ks_exporter_scrape_errors_total) is in the
same page.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from .db import Database, QueryError, require_data
from .prom_state import State

# Seconds a scrape waits for a writer's lock: well under Prometheus's default
# 10 s scrape timeout, so a locked database answers 503 rather than a timeout.
LOCK_WAIT_S = 2.0
DEFAULT_PORT = 19435   # docs/service.md says why this one
INDEX = b"""<html><head><title>kernelsight exporter</title></head>
<body><h1>kernelsight exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>
"""


class Unavailable(Exception):
    """The database cannot be read right now: the scrape answers 503 with this text."""


class Scraper:
    """A prometheus_client collector: every collect() folds in the new rows and
    yields the families of query/prometheus.py, plus its own health."""

    def __init__(self, db_path: str, state: State, options: dict):
        from prometheus_client import CollectorRegistry, Counter, Summary, disable_created_metrics

        disable_created_metrics()   # *_created series: noise for a long-running exporter
        self.db_path, self.state, self.options = db_path, state, options
        self.lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self.duration = Summary("ks_exporter_scrape_duration_seconds",
                                "Time ks-promexport took to read the database for a scrape.",
                                registry=self.registry)
        self.errors = Counter("ks_exporter_scrape_errors",
                              "Scrapes answered with an error, by reason (database, locked, internal).",
                              ["reason"], registry=self.registry)
        for reason in ("database", "locked", "internal"):
            self.errors.labels(reason)   # zero from the start, so rate() sees the first one

    def collect(self):
        with self.lock:
            start = time.perf_counter()
            try:
                families = self._read()
            except (QueryError, sqlite3.Error) as e:   # no file, not ours, "database is locked" ...
                text = str(e) if isinstance(e, QueryError) else f"{self.db_path}: {e}"
                reason = "locked" if "locked" in text or "busy" in text else "database"
                raise self._failed(reason, text) from None
            finally:
                self.duration.observe(time.perf_counter() - start)
        return families

    def warm_up(self) -> None:
        """Fold in what the state does not hold yet (every row, the first time: tens of
        seconds on a big database) before Prometheus asks, instead of in its first scrapes."""
        try:
            self.collect()
        except Unavailable:
            pass   # counted; the scrapes will say why

    def _failed(self, reason: str, text: str) -> Unavailable:
        self.errors.labels(reason).inc()
        return Unavailable(text)

    def _read(self) -> list:
        from .prometheus import Exporter

        with Database(self.db_path, timeout=LOCK_WAIT_S) as db:
            require_data(db, check_empty=False)
            exporter = Exporter(db, self.state, **self.options)
            exporter.update()
            families = list(exporter.families())
        self.state.save()
        return families

    def app(self):
        """The WSGI app: /metrics from prometheus_client, / a link to it, 503 on a bad database."""
        from prometheus_client import make_wsgi_app

        metrics = make_wsgi_app(self.registry)

        def app(environ, start_response):
            path = environ.get("PATH_INFO") or "/"
            if path == "/":
                return _answer(start_response, "200 OK", INDEX, "text/html")
            if path != "/metrics":
                return _answer(start_response, "404 Not Found", b"Not found: try /metrics\n")
            try:
                return metrics(environ, start_response)
            except Unavailable as e:
                return _answer(start_response, "503 Service Unavailable", f"{e}\n".encode())
            except Exception as e:   # a bug: one line for the scraper and the journal, no traceback
                self.errors.labels("internal").inc()
                text = f"ks-promexport: internal error: {type(e).__name__}: {e}"
                sys.stderr.write(text + "\n")
                return _answer(start_response, "500 Internal Server Error", f"{text}\n".encode())

        return app


def _answer(start_response, status: str, body: bytes, ctype: str = "text/plain"):
    start_response(status, [("Content-Type", f"{ctype}; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def parse_listen(value: str) -> tuple[str, int]:
    """ADDR:PORT, :PORT, PORT or ADDR ([v6]:PORT for IPv6): loopback and DEFAULT_PORT unless given."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = (value, "") if not value.isdigit() else ("", value)
    if ":" in host and not host.startswith("["):   # a bare IPv6 address without a port
        host, port = value, ""
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        if port:
            raise ValueError(f"--listen {value}: the port must be a number from 1 to 65535")
        port = str(DEFAULT_PORT)
    return host, int(port)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per scrape would flood the journal
        pass


def serve(scraper: Scraper, host: str, port: int) -> None:
    """Serve until a signal ends the process (run_cli turns it into 130/143)."""
    from prometheus_client.exposition import ThreadingWSGIServer

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = make_server(host, port, scraper.app(), Server, handler_class=_Quiet)
    sys.stderr.write(f"ks-promexport: serving http://{_url_host(host)}:{httpd.server_port}/metrics "
                     f"from {scraper.db_path}\n")
    sys.stderr.flush()
    threading.Thread(target=scraper.warm_up, daemon=True).start()
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
