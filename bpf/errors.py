"""The errors the binding raises: a one-line message for the user and an exit status.

Defined here, below every user of the binding, so that bpf/ imports nothing from
collectors/; the collector runtime turns these into their message and status.
Statuses are sysexits.h's, so a script can tell "not allowed" from "not possible".
"""

from __future__ import annotations

import os

EXIT_ERROR = 1
EXIT_NOPERM = os.EX_NOPERM  # 77: run as root, or grant CAP_BPF + CAP_PERFMON
EXIT_UNAVAILABLE = os.EX_UNAVAILABLE  # 69: the kernel lacks what is needed


class BpfError(Exception):
    def __init__(self, message: str, status: int = EXIT_ERROR):
        super().__init__(message)
        self.status = status
