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


class CgroupNames:
    """cgroup v2 ids (as the BPF programs read them) to paths relative to the v2 mount
    ("/system.slice/nginx.service", "/" for the root), for the `cgroup` field.

    The tree is walked once, and again when an id is not known (a cgroup created
    since), at most once a second: a burst of events from a new container costs one
    walk.  An id still unknown after a walk (the cgroup is gone already) is None."""

    RESCAN_S = 1.0

    def __init__(self, root: str | None = None, clock=None):
        import time

        roots = [root] if root else v2_mounts()
        self.root = roots[0] if roots else None
        self.clock = clock or time.monotonic
        self.paths: dict[int, str] = {}
        self.walked_at: float | None = None

    def __call__(self, cgid: int) -> str | None:
        if not cgid or self.root is None:
            return None
        path = self.paths.get(cgid)
        if path is None and (self.walked_at is None or
                             self.clock() - self.walked_at >= self.RESCAN_S):
            self._walk()
            path = self.paths.get(cgid)
        return path

    def _walk(self) -> None:
        self.walked_at = self.clock()
        for directory, subdirs, _ in os.walk(self.root, onerror=lambda e: None):
            try:
                ino = os.stat(directory).st_ino
            except OSError:     # removed while walking
                continue
            rel = os.path.relpath(directory, self.root)
            self.paths[ino] = "/" if rel == "." else "/" + rel
