"""cgroup v2 paths to the ids the kernel compares (bpf/task_filter.bpf.h), for --cgroup.

A cgroup v2 id is the inode number of its directory in the cgroup2 file system.  That
file system is /sys/fs/cgroup on a pure v2 machine and /sys/fs/cgroup/unified on a
hybrid (v1 + v2) one; /proc/self/mounts says which.  A path is taken either as a
directory (/sys/fs/cgroup/unified/system.slice/foo.service) or relative to the v2
mount (/system.slice/foo.service, as /proc/PID/cgroup's "0::" line writes it).

Some controllers are looked up where they live instead: perf_event (ks-perf's perf
cgroup mode) and blkio (the cgroup ks-iolat's requests are charged to) may be on a v1
mount of their own on a hybrid machine.
"""

from __future__ import annotations

import os

from kernelsight.collectors.runtime import Fatal


MOUNTS = "/proc/self/mounts"


def _cgroup_mounts(mounts: str) -> list[tuple[str, str, list[str]]]:
    """(where, fstype, options) of each cgroup and cgroup2 mount."""
    with open(mounts) as f:
        rows = [line.split() for line in f]
    return [(r[1], r[2], r[3].split(",")) for r in rows
            if len(r) > 3 and r[2] in ("cgroup", "cgroup2")]


def v2_mounts(mounts: str = MOUNTS) -> list[str]:
    """Where cgroup2 is mounted, e.g. ['/sys/fs/cgroup/unified']."""
    return [where for where, fstype, _ in _cgroup_mounts(mounts) if fstype == "cgroup2"]


def controller_root(v1_name: str, mounts: str = MOUNTS) -> str | None:
    """The hierarchy that holds a controller (named as v1 names it: "perf_event",
    "blkio"): its v1 mount if it has one, else the cgroup2 mount; None without either.
    A controller mounted on v1 is not available to v2 (the kernel binds it to one)."""
    cgroup_mounts = _cgroup_mounts(mounts)
    for where, fstype, options in cgroup_mounts:
        if fstype == "cgroup" and v1_name in options:
            return where
    return next((where for where, fstype, _ in cgroup_mounts if fstype == "cgroup2"), None)


def io_cgroup(directory: str, mounts: str = MOUNTS) -> tuple[str, int] | None:
    """(directory, id) of the cgroup the kernel charges the block I/O of this cgroup
    v2's processes to, when that cgroup stands for exactly them; else None.

    On v2 that is the cgroup itself once the io controller is enabled for it (its
    cgroup.controllers lists "io"); below that, its I/O is charged to an ancestor.
    Where blkio is mounted on v1 (a hybrid machine), it is the blkio cgroup of the
    same path, if that holds the same processes now (systemd and container runtimes
    make one cgroup per hierarchy and move processes into all of them)."""
    roots = v2_mounts(mounts)
    root = controller_root("blkio", mounts)
    if not roots or root is None:
        return None
    if root in roots:
        if "io" not in _words(os.path.join(root, "cgroup.controllers")):
            return None         # no io controller on v2 at all
        if os.path.normpath(directory) != os.path.normpath(root) and \
                "io" not in _words(os.path.join(directory, "cgroup.controllers")):
            return None
        return directory, os.stat(directory).st_ino
    rel = os.path.relpath(directory, next(r for r in roots if _under(directory, r)))
    v1 = os.path.normpath(os.path.join(root, rel))
    if not os.path.isdir(v1) or _words(os.path.join(v1, "cgroup.procs")) != \
            _words(os.path.join(directory, "cgroup.procs")):
        return None
    return v1, os.stat(v1).st_ino


def _words(path: str) -> set[str]:
    try:
        with open(path) as f:
            return set(f.read().split())
    except OSError:
        return set()


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
