"""ks-rtt's per-peer counters in the kernel, drained once per interval.

bpf/rtt.bpf.c counts per CPU into two places (see its header):

* peer_cache: a direct-mapped per-CPU array, two generations of `cache_slots()`
  slots each, that the hot path (every received segment) uses when the peer's slot
  is free or already its own.  Each interval we flip the generation, wait out the
  programs that may still write the old half, read the slots that cache_used marks
  as taken and clear them: nothing is lost or counted twice.
* peer_stats: an LRU per-CPU hash for everything else (a peer whose slot is taken
  on that CPU, retransmits, drops), keyed by peer and generation: after the same
  flip and wait, the old generation's keys are read and deleted.

PeerMaps sums both over the CPUs and publishes the interval in rtt_hist_map and
node_metrics_map, the original agent's maps (docs/design.md), so bpftool shows the last whole interval.
"""

from __future__ import annotations

import array
import struct

from kernelsight.bpf import libbpf
from kernelsight.collectors.bpf_collector import BpfCollector, Generations
from kernelsight.collectors.runtime import warn
from kernelsight.ingest import histogram

METRICS = struct.Struct("<4Q")                 # struct node_metrics
STATS_HIST_OFFSET = 4                          # struct peer_stats: metrics, then hist (u64s)
PEER_STATS_SIZE = METRICS.size + 8 * histogram.NBUCKETS
PEER_KEY_SIZE = 20                             # struct peer_key; stats_key adds the gen
# struct cache_slot: peer_key, pad, peer_stats
SLOT_STATS_OFFSET = 24
SLOT_SIZE = SLOT_STATS_OFFSET + PEER_STATS_SIZE
MAX_PEER_MEMORY = 64 << 20
MAX_CACHE_MEMORY = 32 << 20
LRU_LOCAL_FREE = 128                           # the kernel's LOCAL_FREE_TARGET (bpf_lru_list.h)
CACHE_SLOTS = (64, 256)                        # per generation: at least one bitmap word

Counts = tuple[dict[int, int], tuple[int, ...]]   # (histogram, node metrics) of one peer


def lru_entries(max_peers: int) -> int:
    """peer_stats' size for max_peers peers an interval.  Both generations' keys live
    in it around a flip, and the kernel's LRU evicts well before it is full: each CPU
    keeps up to LRU_LOCAL_FREE free nodes to itself and refills by evicting when the
    shared free list runs short.  Room for both, so nothing is evicted early."""
    return 2 * max_peers + 2 * LRU_LOCAL_FREE * libbpf.possible_cpus()


def default_max_peers() -> int:
    """1024 peers, fewer on machines with many CPUs: the per-CPU map is preallocated
    (an entry costs PEER_STATS_SIZE bytes per possible CPU); keep it under 64 MiB."""
    per_entry = PEER_STATS_SIZE * libbpf.possible_cpus()
    n = 1024
    while n > 16 and lru_entries(n) * per_entry > MAX_PEER_MEMORY:
        n //= 2
    return n


def cache_slots() -> int:
    """Slots per generation of peer_cache: a power of two, 256 where both generations
    fit in 32 MiB over all possible CPUs, down to 64 on very large machines."""
    low, n = CACHE_SLOTS
    while n > low and 2 * n * SLOT_SIZE * libbpf.possible_cpus() > MAX_CACHE_MEMORY:
        n //= 2
    return n


def map_sizes(max_peers: int) -> dict[str, int]:
    """max_entries of every sized map, set before load.  An interval can see every
    peer of the LRU map plus one per cache slot and CPU: the published maps take that
    many (they allocate per entry used, not up front)."""
    slots = cache_slots()
    seen = lru_entries(max_peers) + slots * libbpf.possible_cpus()
    return {"peer_stats": lru_entries(max_peers), "rtt_hist_map": seen, "node_metrics_map": seen,
            "peer_cache": 2 * slots, "cache_used": 2 * slots // 64}


def add_counts(into: dict[bytes, list], key: bytes, stats: memoryview) -> None:
    """Add one CPU's struct peer_stats (as u64 words) to the peer's running sums."""
    hist, metrics = into.setdefault(key, ({}, [0, 0, 0, 0]))
    for i in range(4):
        metrics[i] += stats[i]
    for i, c in enumerate(stats[STATS_HIST_OFFSET:]):
        if c:
            hist[i] = hist.get(i, 0) + c


class PeerCache:
    """The two-generation peer_cache: read the taken slots of an idle generation and
    clear them."""

    def __init__(self, bc: BpfCollector):
        self.slots = bc.map("peer_cache")
        self.used = bc.map("cache_used")
        self.per_gen = self.slots.max_entries // 2
        self.zero = bytes(self.slots.buf_size)

    def drain(self, gen: int, into: dict[bytes, list]) -> None:
        """Add generation gen's taken slots to ``into`` and clear them."""
        for slot in self._taken(gen):
            key = slot.to_bytes(4, "little")
            for value in self.slots.per_cpu(self.slots.lookup(key) or b""):
                if value[16:20] != b"\0\0\0\0":     # peer_key.family: the slot is taken
                    stats = memoryview(value)[SLOT_STATS_OFFSET:].cast("Q")
                    add_counts(into, value[:PEER_KEY_SIZE], stats)
            self.slots.update(key, self.zero)

    def _taken(self, gen: int) -> list[int]:
        """Slots of generation gen that some CPU took, clearing their marks."""
        slots = []
        words = self.per_gen // 64
        for w in range(gen * words, (gen + 1) * words):
            key = w.to_bytes(4, "little")
            bits = int.from_bytes(self.used.lookup(key) or b"", "little")
            if bits:
                self.used.update(key, bytes(8))
                slots.extend(w * 64 + b for b in range(64) if bits >> b & 1)
        return slots


class PeerMaps:
    """Drains the interval's counts (cache and LRU hash), sums the CPUs, and publishes
    the result in rtt_hist_map and node_metrics_map.

    An LRU map never refuses a key: when it runs short it silently drops the least
    recent.  The kernel counts the keys it creates per generation; once a generation
    is drained, created minus drained is exactly what was evicted.
    """

    def __init__(self, bc: BpfCollector):
        self.bc = bc
        self.gens = Generations(bc, "cache_gen")   # of the cache and of peer_stats' keys
        self.cache = PeerCache(bc)
        self.stats = bc.map("peer_stats")
        self.hists = bc.map("rtt_hist_map")
        self.metrics = bc.map("node_metrics_map")
        self.created = bc.map("gen_created")
        self.evicted = 0
        self.published: set[bytes] = set()

    def drain(self) -> dict[bytes, Counts]:
        old = self.gens.flip()
        sums: dict[bytes, list] = {}
        self.cache.drain(old, sums)
        self._count_evicted(old, self._drain_stats(old, sums))
        out = {key: (hist, tuple(metrics)) for key, (hist, metrics) in sums.items()}
        self._publish(out)
        return out

    def _drain_stats(self, gen: int, into: dict[bytes, list]) -> int:
        """Add peer_stats' keys of generation gen to ``into`` and delete them; the
        other generation's keys are being written and stay."""
        taken = Generations.take(self.stats, gen, PEER_KEY_SIZE)
        for key, raw in taken:
            for value in self.stats.per_cpu(raw):
                add_counts(into, key[:PEER_KEY_SIZE], memoryview(value).cast("Q"))
        return len(taken)

    def _publish(self, peers: dict[bytes, Counts]) -> None:
        for key in self.published - peers.keys():
            self.hists.delete(key)
            self.metrics.delete(key)
        for key, (hist, metrics) in peers.items():
            dense = array.array("Q", bytes(8 * histogram.NBUCKETS))
            for i, c in hist.items():
                dense[i] = c
            self.hists.update(key, dense.tobytes())
            self.metrics.update(key, METRICS.pack(*metrics))
        self.published = set(peers)

    def _count_evicted(self, gen: int, drained: int) -> None:
        """Keys the kernel created in generation gen (now idle) that were not there to
        drain: the LRU evicted them, with their counts."""
        key = gen.to_bytes(4, "little")
        created = int.from_bytes(self.created.lookup(key) or bytes(8), "little")
        self.created.update(key, bytes(8))
        lost = created - drained
        if lost > 0:
            self.evicted += lost
            warn(f"{lost} peers evicted from the full peer_stats map (total {self.evicted}): "
                 f"raise --max-peers")
