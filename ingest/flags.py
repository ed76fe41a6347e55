"""What every ks command line shares: ``--version``, and the short options that moved.

A letter means one thing across all ks commands (tests/test_flags.py holds them to
it).  The few that meant two things before (``-d``: --duration in the collectors,
--db-path in ks-query) keep their old meaning in the commands that had it, with a
note on stderr, until they are removed.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer


# The typer settings of every ks command: plain help (no rich panels: rich costs start-up
# time), no rich tracebacks (errors are one line), -h as well as --help, and typer's
# --install-completion / --show-completion (measured: no start-up cost, no extra import).
APP_SETTINGS = dict(add_completion=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                    context_settings={"help_option_names": ["-h", "--help"]})


def _show_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version   # only when asked: ~5 ms

    try:
        v = version("kernelsight")
    except PackageNotFoundError:
        v = "unknown (not installed)"
    typer.echo(f"{os.path.basename(sys.argv[0]) or 'ks'} (kernelsight) {v}")
    raise typer.Exit()


Version = Annotated[Optional[bool], typer.Option(
    "--version", callback=_show_version, is_eager=True, expose_value=True,
    help="Print the kernelsight version and exit.")]


def renamed(args: list[str], moved: dict[str, str], prog: str) -> list[str]:
    """``args`` with each old short option of ``moved`` (``{"-d": "--db-path"}``)
    spelled long, saying so once on stderr; also ``-dVALUE``.  Nothing after ``--``."""
    out, said = [], set()
    for i, a in enumerate(args):
        if a == "--":
            return out + args[i:]
        old = a[:2]
        if old in moved and (a == old or not a.startswith("--")):
            new = moved[old]
            if old not in said:
                sys.stderr.write(f"{prog}: {old} is deprecated here (a ks option letter means one "
                                 f"thing in every command): use {new}\n")
                said.add(old)
            out += [new] if a == old else [new, a[2:]]
        else:
            out.append(a)
    return out
