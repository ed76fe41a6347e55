"""The life of every eBPF collector: check privileges, load, attach, poll, report, detach.

A collector module supplies its object name, its read-only options (rodata) and a
``sample()`` that drains its maps into events every interval; this class does the
rest the same way for all of them:

    bc = BpfCollector("ks-iolat", "iolat", opts, rodata={"targ_dev": dev})
    with bc:
        bc.ring("events", on_event)        # optional: per-event records
        bc.run(sample)                     # until --duration/--count/Ctrl-C/closed pipe

Lost records (ring buffer full, map full) are counted by the BPF side in .bss
(KS_LOST_COUNTERS in maps.bpf.h), runs the kernel skipped by the programs' info
(recursion_misses).  Every interval they go into a ``collector_stats`` event
(collector_stats.py) with the events printed and the CPU used, and onto stderr
without flooding it (loss_notice.py): never silent.
"""

from __future__ import annotations

import time
from typing import Callable

from kernelsight.bpf import libbpf
from kernelsight.collectors.collector_stats import CollectorStats
from kernelsight.collectors.loss_notice import LossNotice
from kernelsight.collectors.runtime import Emitter, RunOptions, Runner, warn

LOST_COUNTERS = {
    "lost_ringbuf": "ring buffer full, per-event records dropped",
    "lost_map_full": "map full, new keys not counted",
    "lost_completion": "I/O completions the kernel did not pass to BPF (those I/Os not counted)",
    "lost_untraced_switch": "run-queue waits ended by a switch the kernel did not trace (not timed)",
}
# Not a .bss counter: the programs' recursion_misses (prog info), per interval.
LOST_RECURSION = "lost_recursion"
LOSSES = {**LOST_COUNTERS, LOST_RECURSION: "the kernel skipped a program already running on "
          "that CPU (hook hit again from an interrupt)"}


class BpfCollector:
    def __init__(self, tool: str, obj_name: str, opts: RunOptions, *,
                 rodata: dict[str, int | bytes] | None = None,
                 autoload: dict[str, bool] | None = None,
                 max_entries: dict[str, int] | None = None,
                 emitter: Emitter | None = None):
        self.tool = tool
        self.opts = opts
        self.emitter = emitter or Emitter()
        self.runner = Runner(opts, self.emitter)
        self.rings: list[libbpf.RingBuffer] = []
        self.lost_seen = dict.fromkeys(LOST_COUNTERS, 0)
        self.misses_seen = 0
        self.losses = LossNotice(LOSSES, warn, verbose=opts.verbose)
        # Signals first: a Ctrl-C while the programs load must end the run after its
        # report like any other, not as a KeyboardInterrupt that skips it.
        self.runner.install_signals()
        libbpf.LOG.echo = False
        libbpf.check_privileges(tool)
        started = time.monotonic()
        self.obj = libbpf.BpfObject(obj_name, rodata=rodata)
        try:
            for prog, on in (autoload or {}).items():
                self.obj.set_autoload(prog, on)
            for name, n in (max_entries or {}).items():
                self.obj.set_max_entries(name, n)
            self.obj.load()
            self.obj.attach()
        except BaseException:
            self.obj.close()
            raise
        self.attach_seconds = time.monotonic() - started
        self.stats = CollectorStats(tool, self.emitter, self.runner, self._prog_fds)
        if opts.verbose:
            progs = ", ".join(self.obj.program_fds())
            warn(f"attached {progs} in {self.attach_seconds * 1000:.0f} ms")

    def map(self, name: str) -> libbpf.Map:
        return self.obj.map(name)

    def ring(self, map_name: str, callback: Callable[[bytes], None]) -> None:
        self.rings.append(libbpf.RingBuffer(self.obj.map(map_name), callback))

    def _wait(self, timeout: float) -> None:
        if not self.rings:
            self.runner.stopping.wait(timeout)
            return
        per_ring = max(1, int(timeout * 1000) // len(self.rings))
        for rb in self.rings:
            rb.poll(per_ring)

    def drain_rings(self) -> None:
        for rb in self.rings:
            rb.consume()

    def report_lost(self) -> dict[str, int]:
        """The records lost since the last call, by cause (LOSSES), told on stderr
        (LossNotice decides when)."""
        new = {}
        for name in LOST_COUNTERS:
            try:
                total = self.obj.read_u64(name)
            except (libbpf.BpfError, KeyError):
                continue     # this object does not count that cause
            new[name] = total - self.lost_seen[name]
            self.lost_seen[name] = total
        misses = self.recursion_misses()
        new[LOST_RECURSION] = misses - self.misses_seen
        self.misses_seen = misses
        self.losses.add(new)
        return new

    def _prog_fds(self) -> list[int]:
        return [fd for fd in self.obj.program_fds().values() if fd >= 0]

    def recursion_misses(self) -> int:
        """Runs of our programs the kernel skipped (prog info recursion_misses)."""
        return sum(libbpf.prog_stats(fd)["recursion_misses"] for fd in self._prog_fds())

    def run(self, sample: Callable[[], None]) -> None:
        """The interval loop; ``sample`` runs after the ring buffers are drained."""
        def tick() -> None:
            self.drain_rings()
            sample()
            self.stats.emit(self.report_lost())

        try:
            self.runner.run(tick, wait=self._wait)
        finally:
            self.losses.close()

    def close(self) -> None:
        for rb in self.rings:
            rb.close()
        self.rings.clear()
        self.obj.close()

    def __enter__(self) -> "BpfCollector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Generations:
    """Two generations of counts.  Programs count into the generation a one-u32 array
    map names (ks_gen_of() in maps.bpf.h); every interval user space flips it, waits
    until no program can still be counting into the old one, then reads and clears
    that one at leisure.  Draining with lookup-and-delete instead loses what a program
    adds between the kernel's copy and the delete (it still holds a pointer into the
    value), and clearing in place races the same way."""

    def __init__(self, bc: BpfCollector, gen_map: str = "stats_gen"):
        self.map = bc.map(gen_map)
        self.gen = 0

    def flip(self) -> int:
        """Switch generations; returns the old one, once no program writes it."""
        old, self.gen = self.gen, self.gen ^ 1
        self.map.update(b"\0\0\0\0", self.gen.to_bytes(4, "little"))
        libbpf.wait_for_running_programs()
        return old

    @staticmethod
    def take(m: libbpf.Map, gen: int, at: int) -> list[tuple[bytes, bytes]]:
        """Read and delete the entries of a hash map whose key holds generation gen
        (a u32) at byte ``at``; the other generation's stay."""
        tag = gen.to_bytes(4, "little")
        out = [(key, raw) for key, raw in m.items() if key[at:at + 4] == tag]
        for key, _ in out:
            m.delete(key)
        return out
