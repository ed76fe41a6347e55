"""cgroup v2 paths to the ids the kernel compares (bpf/task_filter.bpf.h), for --cgroup.

A cgroup v2 id is the inode number of its directory in the cgroup2 file system.  That
file system is /sys/fs/cgroup on a pure v2 machine and /sys/fs/cgroup/unified on a
hybrid (v1 + v2) one; /proc/self/mounts says which.  A path is taken either as a
directory (/sys/fs/cgroup/unified/system.slice/foo.service) or relative to the v2
mount (/system.slice/foo.service, as /proc/PID/cgroup's "0::" line writes it).
"""

from __future__ import annotations

import os

from kernelsight.collectors.runtime import Fatal

def v2_mounts(mounts: str = "/proc/self/mounts") -> list[str]:
    """Where cgroup2 is mounted, e.g. ['/sys/fs/cgroup/unified']."""
    with open(mounts) as f:
        return [line.split()[1] for line in f if len(line.split()) > 2 and line.split()[2] == "cgroup2"]


def resolve(path: str) -> tuple[str, int]:
    """(directory, cgroup id) of a --cgroup value; Fatal with a clear line otherwise."""
    roots = v2_mounts()
    if not roots:
        raise Fatal("no cgroup2 file system is mounted (looked in /proc/self/mounts)")
    candidates = [path] if any(_under(path, r) for r in roots) else \
        [os.path.join(r, path.lstrip("/")) for r in roots]
    for c in candidates:
        if os.path.isdir(c):
            return c, os.stat(c).st_ino
    raise Fatal(f"--cgroup {path}: no such cgroup v2 (looked in {', '.join(candidates)})")


def _under(path: str, root: str) -> bool:
    p = os.path.normpath(path)
    return p == root or p.startswith(root.rstrip("/") + "/")
