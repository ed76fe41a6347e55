"""Peer addresses for ks-rtt: the kernel's key format, --peer CIDRs and --nodes files.

The BPF side keys everything by the remote address as 16 bytes (IPv6, or IPv4 as
``::ffff:a.b.c.d``) plus the family (4 or 6).  One representation lets a single LPM
trie filter both families: an IPv4 CIDR ``/n`` is the mapped prefix ``/96+n``.

A nodes file names peers, one CIDR and one name per line; the longest prefix wins:

    # cidr           node name
    10.0.0.0/8       cluster1
    10.1.2.0/24      cluster1-rack2
    fd00::/8         lab
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from kernelsight.collectors.runtime import EXIT_USAGE, Fatal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PEER_KEY = struct.Struct("<16sI")   # struct peer_key: addr[16], family
LPM_KEY = struct.Struct("<I16s")    # struct lpm_key: prefixlen, addr[16]
V4_MAPPED = b"\0" * 10 + b"\xff\xff"


def decode_addr(raw: bytes, family: int) -> IPAddress:
    """16 kernel bytes to an address; family 4 reads the mapped IPv4 tail."""
    if family == 4:
        return ipaddress.IPv4Address(raw[12:16])
    return ipaddress.IPv6Address(raw)


def decode_peer(key: bytes) -> tuple[IPAddress, int]:
    raw, family = PEER_KEY.unpack_from(key)
    return decode_addr(raw, family), family


def encode_addr(addr: IPAddress) -> bytes:
    return V4_MAPPED + addr.packed if addr.version == 4 else addr.packed


def parse_cidr(text: str, what: str = "--peer") -> Network:
    """A CIDR or a bare address; a clear one-line error otherwise."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise Fatal(f"{what}: {text!r} is not an address or CIDR "
                    f"(e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8)", EXIT_USAGE) from None


def lpm_key(net: Network) -> bytes:
    """The peer_filter trie key of a network, in the kernel's mapped form."""
    if net.version == 4:
        return LPM_KEY.pack(96 + net.prefixlen, V4_MAPPED + net.network_address.packed)
    return LPM_KEY.pack(net.prefixlen, net.network_address.packed)


@dataclass(frozen=True)
class NodeRule:
    net: Network
    name: str


class NodeNames:
    """Longest-prefix match of peer addresses to node names (else the address itself)."""

    def __init__(self, rules: list[NodeRule] | None = None):
        # Longest prefix first, so the first containing network is the answer.
        self.rules = sorted(rules or [], key=lambda r: -r.net.prefixlen)
        self._cache: dict[IPAddress, str] = {}

    @classmethod
    def load(cls, path: str) -> "NodeNames":
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise Fatal(f"--nodes {path}: {e.strerror}", EXIT_USAGE) from None
        return cls(parse_nodes(text, path))

    def name(self, addr: IPAddress) -> str:
        hit = self._cache.get(addr)
        if hit is None:
            hit = next((r.name for r in self.rules if addr.version == r.net.version
                        and addr in r.net), str(addr))
            if len(self._cache) < 65536:
                self._cache[addr] = hit
        return hit


def parse_nodes(text: str, source: str = "nodes file") -> list[NodeRule]:
    """Lines of ``CIDR NAME``; ``#`` starts a comment.  Bad lines are errors that say
    where (a typo in a node map must not silently mislabel a cluster)."""
    rules = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 2:
            raise Fatal(f"{source}:{n}: expected `CIDR NAME`, got {line.strip()!r}",
                        EXIT_USAGE)
        rules.append(NodeRule(parse_cidr(fields[0], f"{source}:{n}"), fields[1]))
    return rules
