"""How ks-query and ks-promexport end: every way out is one line and a clear status."""

from __future__ import annotations

import os
import sys
from typing import Callable

from . import db, times
from .db import QueryError


def fail(prog: str, message: str, status: int = 1) -> int:
    sys.stderr.write(f"{prog}: error: {message}\n")
    return status


def _say_skipped(prog: str) -> None:
    """Stored values a reader left out (histogram.merge) are said, never hidden."""
    from ..ingest import histogram

    message = histogram.SKIPPED.message()
    if message:
        sys.stderr.write(f"{prog}: warning: {message}\n")


def run_cli(prog: str, call: Callable[[], object]) -> int:
    """Run a typer app; turn errors into one line on stderr and an exit status.

    0 ok; 1 a query or database error; 2 bad usage or a bad time; 130/143 stopped by
    a signal; 70 an internal error (KS_DEBUG=1 shows its traceback).
    """
    db.stop_on_signals()
    try:
        return _run(prog, call)
    finally:
        _say_skipped(prog)


def _run(prog: str, call: Callable[[], object]) -> int:
    try:
        call()
    except SystemExit as e:
        if db.STOP.is_set():  # typer turns the KeyboardInterrupt of a signal into exit 130
            return db.STOP_STATUS  # set by the signal: 130 or 143
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        return fail(prog, str(e.code))
    except QueryError as e:  # sqlguard.Refused too
        return db.STOP_STATUS if db.STOP.is_set() else fail(prog, str(e))
    except times.BadTime as e:
        return fail(prog, str(e), 2)
    except KeyboardInterrupt:
        return db.STOP_STATUS
    except BrokenPipeError:
        # The reader went away (`ks-query ... | head -1`): nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as e:
        return fail(prog, f"{e.strerror or e}: {e.filename or ''}")
    except Exception as e:  # a bug: one line, unless KS_DEBUG asks for the traceback
        if os.environ.get("KS_DEBUG"):
            raise
        sys.stderr.write(f"{prog}: internal error: {type(e).__name__}: {e} "
                         f"(KS_DEBUG=1 shows where)\n")
        return 70
    return 0
