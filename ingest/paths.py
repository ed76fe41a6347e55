"""Where the database is when no --db-path is given: the one default of every command.

``KS_DB`` when set (each command's --db-path reads it); else, as root, the system's
state directory (a cron job or a systemd unit finds it with no environment at all);
else the user's ($XDG_STATE_HOME, ~/.local/state by default).
"""

from __future__ import annotations

import os

SYSTEM_PATH = "/var/lib/kernelsight/kernelsight.db"
DIR_MODE = 0o750   # the database says what every process did: not for every user


def default_db_path() -> str:
    if os.environ.get("KS_DB"):
        return os.environ["KS_DB"]
    if os.geteuid() == 0:
        return SYSTEM_PATH
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "kernelsight", "kernelsight.db")
