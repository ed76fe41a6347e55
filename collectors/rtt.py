"""ks-rtt: TCP smoothed RTT per peer, with retransmits and drops, as `rtt` and `tcp_event`.

The BPF side (bpf/rtt.bpf.c) counts every segment an established socket receives
into its peer's histogram (the socket's srtt, whole us) and node metrics, per CPU;
it counts retransmits and dropped TCP packets per peer too.  Every interval
rtt_maps.PeerMaps drains those counts, sums the CPUs and publishes the interval in
rtt_hist_map and node_metrics_map (the original agent's map names, docs/design.md, for bpftool); this module
prints one `rtt` event per peer seen.  The ring buffer's records (sampled segments;
every retransmit and drop with --events) become `tcp_event`s, written as they come
(see Stream) so that memory stays flat whatever the rate and the interval.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from kernelsight.bpf import libbpf
from kernelsight.collectors.bpf_collector import BpfCollector
from kernelsight.collectors.decode import CStruct
from kernelsight.collectors.rtt_maps import PeerMaps, cache_slots, default_max_peers, map_sizes
from kernelsight.collectors.rtt_peers import (
    NodeNames, decode_addr, decode_peer, lpm_key, parse_cidr)
from kernelsight.collectors.runtime import EXIT_USAGE, Fatal, RunOptions, collector, warn
from kernelsight.ingest import histogram

TOOL = "ks-rtt"
PINNED_MAPS = ("rtt_hist_map", "node_metrics_map", "peer_cache", "peer_stats", "events")

HELP = """\
TCP round-trip time per peer, from the kernel's own smoothed RTT (srtt).

Hooks tp_btf/tcp_probe (every segment an established socket receives),
tp_btf/tcp_retransmit_skb and tcp_retransmit_synack, and tp_btf/kfree_skb
(dropped TCP packets, with the kernel's drop reason).  Prints every interval:

\b
  rtt        one per peer (remote address) seen in the interval: count, sum_us,
             mean_us, p50/p90/p95/p99/max_us, retrans_count (segments, SYN-ACKs
             included: what RetransSegs in /proc/net/snmp, netstat -s and
             node_exporter count), drop_count and the histogram buckets
             (re-mergeable over any window)
  tcp_event  1 in --sample segments (kind rtt, value = srtt in us), at most
             --sample-limit a second per CPU; with --events every retransmit
             (reason = TCP state) and drop (reason = the kernel's drop reason name)

\b
The rtt counts are complete whatever the sampling: samples only show single
segments.  The defaults (1 in 100, at most 100/s per CPU) keep a busy host's
output near 20 KB/s per CPU; a quiet one gets every 100th segment.

\b
A nodes file names peers (longest prefix wins; else the address is the name):
  10.0.0.0/8    cluster1
  10.1.2.0/24   cluster1-rack2

\b
Examples:
  ks-rtt --nodes nodes.txt | ks-ingest --db-path ks.db
  ks-rtt --peer 10.0.0.0/8 --port 443 --sample 0 --interval 10
  ks-rtt --sample 1 --sample-limit 0 --port 443 -d 5  # every segment of port 443, 5 s
  ks-rtt --events -4 | grep '"kind":"drop"'     # every drop, with its reason
  ks-rtt --pin /sys/fs/bpf/ks-rtt > rtt.ndjson &
  bpftool map dump name rtt_hist_map            # the last interval, per peer

Needs root, or CAP_BPF and CAP_PERFMON (exit status 77 without them).
"""

# ---- records from the kernel ---------------------------------------------------------
TCP_EVENT = CStruct("rtt", "tcp_event", "<Q16s16sIIHHBBH")
KINDS = {1: "rtt", 2: "retrans", 3: "drop"}

# TCP states (include/net/tcp_states.h; the same names /proc/net/tcp users know).
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE"}


class DropReasons:
    """skb_drop_reason names from the running kernel's BTF, read once when first needed."""

    def __init__(self) -> None:
        self._names: dict[int, str] | None = None

    def name(self, value: int) -> str:
        if self._names is None:
            try:
                self._names = libbpf.btf_enum("skb_drop_reason", "SKB_DROP_REASON_")
            except libbpf.BpfError as e:
                warn(f"drop reasons are numbers: {e}")
                self._names = {}
        return self._names.get(value, str(value))


def decode_event(raw: bytes, drops: DropReasons) -> tuple[int, dict]:
    """(monotonic ns, the `tcp_event` fields without node) of one ring-buffer record."""
    ts, saddr, daddr, value, reason, sport, dport, kind, family, _cpu = TCP_EVENT.unpack_from(raw)
    name = KINDS.get(kind, str(kind))
    why = (drops.name(reason) if name == "drop" else
           TCP_STATES.get(reason, str(reason)) if name == "retrans" else None)
    return ts, {
        "kind": name, "family": family,
        "saddr": str(decode_addr(saddr, family)), "sport": sport,
        "daddr": str(decode_addr(daddr, family)), "dport": dport,
        "value": value if name == "rtt" else 0, "reason": why,
    }


def rtt_fields(node: str, peer: str, family: int, interval_ns: int,
               hist: dict[int, int], metrics: tuple[int, int, int, int]) -> dict:
    rtt_sum, rtt_count, retrans, drops = metrics
    fields = {"node": node, "peer": peer, "family": family, "interval_ns": interval_ns,
              "sum_us": rtt_sum,
              "mean_us": round(rtt_sum / rtt_count, 3) if rtt_count else None}
    fields.update(histogram.summary(hist))
    fields.update(retrans_count=retrans, drop_count=drops, buckets=histogram.sparse(hist))
    return fields


# ---- pinning -------------------------------------------------------------------------
class Pins:
    """--pin DIR: the maps as files, for bpftool and other readers; removed on exit
    unless --keep-pinned (a kept pin holds the last values after ks-rtt is gone)."""

    def __init__(self, bc: BpfCollector, directory: str | None, keep: bool):
        self.paths: list[tuple[libbpf.Map, str]] = []
        self.keep = keep
        self.made_dir = None
        if not directory:
            return
        if os.path.abspath(directory).startswith("/sys/fs/bpf"):
            libbpf.ensure_bpffs()
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory)
                self.made_dir = directory
        except OSError as e:
            raise Fatal(f"--pin {directory}: {e.strerror}", EXIT_USAGE) from None
        for name in PINNED_MAPS:
            self._clear_stale(bc.map(name), os.path.join(directory, name), bc.opts.verbose)
        try:
            for name in PINNED_MAPS:
                m = bc.map(name)
                path = os.path.join(directory, name)
                m.pin(path)
                self.paths.append((m, path))
        except libbpf.BpfError as e:
            self.close()
            raise Fatal(f"--pin {directory}: {e} (maps pin only on a bpf filesystem, "
                        f"e.g. --pin /sys/fs/bpf/ks-rtt)", EXIT_USAGE) from None
        if bc.opts.verbose:
            warn(f"pinned {', '.join(PINNED_MAPS)} in {directory}")

    @staticmethod
    def _clear_stale(m: libbpf.Map, path: str, verbose: bool) -> None:
        """A pin already at ``path`` is replaced when it is what an earlier ks-rtt
        left (killed, or --keep-pinned): one of our maps by name, type and sizes,
        held open by no process.  One still in use, or not ours, is an error: a
        restarting service must not fail forever, nor take another's pin."""
        if not os.path.lexists(path):
            return
        try:
            info = libbpf.pinned_map_info(path)
        except (libbpf.BpfError, OSError) as e:
            raise Fatal(f"--pin: {path} exists and is not a BPF map ({e}): remove it or pin "
                        f"elsewhere", EXIT_USAGE) from None
        ours = (int(info.get("map_type", -1)), int(info.get("key_size", -1)),
                int(info.get("value_size", -1))) == (m.type, m.key_size, m.value_size)
        if not ours:
            raise Fatal(f"--pin: {path} is a map ks-rtt did not make (another type or size): "
                        f"remove it or pin elsewhere", EXIT_USAGE)
        holders = libbpf.map_holders(info.get("map_id", ""))
        if holders:
            raise Fatal(f"--pin: {path} is in use by pid {', '.join(map(str, holders))} (another "
                        f"ks-rtt?): stop it or pin elsewhere", EXIT_USAGE)
        os.unlink(path)
        if verbose:
            warn(f"replaced {path}, left by an earlier ks-rtt that is gone")

    def close(self) -> None:
        if self.keep:
            return
        for m, path in self.paths:
            m.unpin(path)
        if self.made_dir:
            try:
                os.rmdir(self.made_dir)
            except OSError:
                pass  # something else was put there: leave it


# ---- options -> rodata -----------------------------------------------------------------
DEFAULT_SAMPLE_EVERY = 100
DEFAULT_SAMPLE_LIMIT = 100   # sampled segments a second per CPU (struct ks_sample_state)
SAMPLE_STATE = CStruct("rtt", "ks_sample_state", "<IIQQ")   # since, taken, window_start, capped


def build_rodata(family: int, port: int | None, peers: bool, sample: int,
                 events: bool, sample_limit: int = DEFAULT_SAMPLE_LIMIT) -> dict[str, int]:
    return {"targ_family": family, "targ_port": port or 0, "filter_peers": int(peers),
            "sample_every": sample, "sample_limit": sample_limit, "emit_events": int(events),
            "cache_mask": cache_slots() - 1}


def family_option(ipv4: bool, ipv6: bool) -> int:
    if ipv4 and ipv6:
        raise Fatal("-4 and -6 exclude each other (give neither for both)", EXIT_USAGE)
    return 4 if ipv4 else 6 if ipv6 else 0


# ---- the run -------------------------------------------------------------------------
class Stream:
    """Events written a few dozen at a time, not held until the interval's end.

    The emitter keeps every line until its flush, and orjson's bytes each hold a
    4 KiB buffer: at 2,000 samples a second a 5 s interval held 40 MiB of 200-byte
    lines (issue 10).  Flushing every FLUSH_EVERY events bounds that to 256 KiB,
    whatever the rate and the interval (and the lines reach the reader sooner)."""

    FLUSH_EVERY = 64

    def __init__(self, emitter):
        self.emitter = emitter
        self.queued = 0

    def emit(self, type_: str, fields: dict, timestamp: int) -> None:
        self.emitter.emit(type_, fields, timestamp)
        self.queued += 1
        if self.queued >= self.FLUSH_EVERY:
            self.queued = 0
            self.emitter.flush()   # a closed pipe raises Stop: the run ends


def capped_samples(m: libbpf.Map) -> int:
    """Samples not taken so far because a CPU's --sample-limit was reached."""
    return sum(SAMPLE_STATE.unpack_from(v)[3] for v in m.per_cpu(m.lookup(bytes(4)) or b""))


def run(opts: RunOptions, rodata: dict, peers: list, nodes: NodeNames, max_peers: int | None,
        pin: str | None, keep_pinned: bool) -> None:
    max_peers = max_peers or default_max_peers()
    sizes = map_sizes(max_peers)
    with BpfCollector(TOOL, "rtt", opts, rodata=rodata, max_entries=sizes) as bc:
        runner = bc.runner
        emit, clock = Stream(bc.emitter).emit, runner.clock
        trie = bc.map("peer_filter")
        for net in peers:
            trie.update(lpm_key(net), b"\x01")
        drops = DropReasons()
        seen = {"events": 0}

        def on_event(raw: bytes) -> None:
            ts, fields = decode_event(raw, drops)
            fields["node"] = nodes.name(decode_addr(raw[24:40], fields["family"]))
            seen["events"] += 1
            emit("tcp_event", fields, clock.to_epoch(ts))

        if rodata["sample_every"] or rodata["emit_events"]:
            bc.ring("events", on_event)
        maps = PeerMaps(bc)
        state = bc.map("sample_state")
        pins = Pins(bc, pin, keep_pinned)

        def sample() -> None:
            peers_seen = maps.drain()
            for key, (hist, metrics) in sorted(peers_seen.items()):
                addr, family = decode_peer(key)
                emit("rtt", rtt_fields(nodes.name(addr), str(addr), family, runner.interval_ns,
                                       hist, metrics), runner.timestamp)
            if opts.verbose:
                warn(f"interval {runner.samples + 1}: {len(peers_seen)} peers, "
                     f"{seen['events']} tcp events so far, {capped_samples(state)} samples "
                     f"over --sample-limit")

        try:
            bc.run(sample)
        finally:
            pins.close()


# -n, -s, -p and -P mean --limit, --since, --pid and --per-process in the other ks commands.
@collector(HELP, interval=5.0, moved={"-n": "--nodes", "-s": "--sample", "-p": "--peer", "-P": "--port"})
def main(
    opts: RunOptions, *,
    nodes: Annotated[Optional[str], typer.Option(
        "--nodes", metavar="FILE",
        help="Name peers: lines of `CIDR NAME`, longest prefix wins (else the address).")] = None,
    sample: Annotated[int, typer.Option(
        "--sample", metavar="N", min=0,
        help="Print 1 in N received segments as a tcp_event (kind rtt); 0: none.")]
    = DEFAULT_SAMPLE_EVERY,
    sample_limit: Annotated[int, typer.Option(
        "--sample-limit", "-L", metavar="N", min=0,
        help="At most N of those a second on each CPU, counted in the kernel (the rest "
        "are counted as capped, see -v); 0: no limit.")] = DEFAULT_SAMPLE_LIMIT,
    events: Annotated[bool, typer.Option(
        "--events", "-e", help="Print every retransmit and drop as a tcp_event.")] = False,
    peer: Annotated[Optional[list[str]], typer.Option(
        "--peer", metavar="CIDR",
        help="Only peers in this network (repeatable), e.g. 10.0.0.0/8.")] = None,
    port: Annotated[Optional[int], typer.Option(
        "--port", metavar="N", min=1, max=65535, help="Only connections with this local or remote port.")] = None,
    ipv4: Annotated[bool, typer.Option("-4", "--ipv4", help="Only IPv4 peers.")] = False,
    ipv6: Annotated[bool, typer.Option("-6", "--ipv6", help="Only IPv6 peers.")] = False,
    max_peers: Annotated[Optional[int], typer.Option(
        "--max-peers", min=16, max=1 << 20,
        help="Peers kept per interval beyond the hot-path cache's 256 per CPU (an LRU map; "
        "evictions are reported).  Default 1024, fewer on machines with many CPUs (the "
        "map is per CPU; kept under 64 MiB).")] = None,
    pin: Annotated[Optional[str], typer.Option(
        "--pin", metavar="DIR",
        help="Pin rtt_hist_map and node_metrics_map (the last interval), peer_cache and "
        "peer_stats (the current one) and events under DIR (bpffs is mounted at /sys/fs/bpf when "
        "missing); removed on exit.")] = None,
    keep_pinned: Annotated[bool, typer.Option(
        "--keep-pinned", help="Leave the pinned maps after exit (rm DIR/* frees them).")] = False,
) -> None:
    family = family_option(ipv4, ipv6)
    nets = [parse_cidr(p) for p in peer or []]
    if len(nets) > 64:
        raise Fatal("--peer: at most 64 networks", EXIT_USAGE)
    names = NodeNames.load(nodes) if nodes else NodeNames()
    rodata = build_rodata(family, port, bool(nets), sample, events, sample_limit)
    run(opts, rodata, nets, names, max_peers, pin, keep_pinned)


if __name__ == "__main__":
    main()
