"""TCP sockets counted by state through sock_diag netlink (what `ss` uses).

/proc/net/tcp makes the kernel format ~150 bytes of text per socket and us parse
them back; a NETLINK_SOCK_DIAG dump sends a fixed binary record per socket, and we
only look at one byte of each (the state).  With 10,000+ sockets that is the
difference between a cheap and an expensive sample (see bench/bench_procfs.py).

Layouts (linux/netlink.h, linux/inet_diag.h):
  nlmsghdr        u32 len, u16 type, u16 flags, u32 seq, u32 pid         16 bytes
  inet_diag_req_v2 u8 family, u8 protocol, u8 ext, u8 pad, u32 states,
                   inet_diag_sockid (48 bytes)                            56 bytes
  inet_diag_msg   u8 family, u8 state, ...                                the reply
"""

from __future__ import annotations

import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18   # the original inet_diag request: one dump covers IPv4 and IPv6
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
IPPROTO_TCP = 6

TCP_ESTABLISHED, TCP_CLOSE_WAIT = 1, 8
ALL_STATES = 0xFFF  # bits 1..11, TCP_ESTABLISHED..TCP_CLOSING (and 0, unused)
ALL_BUT_ESTABLISHED = ALL_STATES & ~(1 << TCP_ESTABLISHED)
STATE_SLOTS = 13    # 0..12; 12 is the kernel's NEW_SYN_RECV
_HDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI48x")       # inet_diag_req_v2
_REQ_V1 = struct.Struct("=BBBB48xII")   # inet_diag_req: family, src_len, dst_len, ext, id, states, dbs
_LEN = struct.Struct("=I")
_ERR = struct.Struct("=i")
RECV_BUF = 1 << 16  # the kernel fills at most ~32 KiB per dump message batch


class SockDiag:
    """One netlink socket, reused for every sample.  Raises OSError if refused."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_SOCK_DIAG)
        self.sock.bind((0, 0))
        self.buf = bytearray(RECV_BUF)
        self.seq = 0
        self.one_walk = True  # until the kernel refuses TCPDIAG_GETSOCK

    def close(self) -> None:
        self.sock.close()

    def count(self, families=(socket.AF_INET, socket.AF_INET6),
              states: int = ALL_STATES) -> list[int]:
        """Sockets per state (index = kernel TCP state number) over the given families."""
        counts = [0] * STATE_SLOTS
        # Each dump walks the whole established hash table (262,144 buckets on a 24 GB
        # machine, ~2 ms however few sockets there are).  The v1 request dumps both
        # families in one walk; the v2 one needs a walk per family.
        if self.one_walk and set(families) == {socket.AF_INET, socket.AF_INET6}:
            try:
                self._dump(_REQ_V1.pack(socket.AF_INET, 0, 0, 0, states, 0),
                           TCPDIAG_GETSOCK, counts)
                return counts
            except OSError:
                self.one_walk = False
                counts = [0] * STATE_SLOTS
        for family in families:
            self._dump(_REQ.pack(family, IPPROTO_TCP, 0, 0, states), SOCK_DIAG_BY_FAMILY, counts)
        return counts

    def _dump(self, body: bytes, kind_wanted: int, counts: list[int]) -> None:
        self.seq += 1
        request = _HDR.pack(_HDR.size + len(body), kind_wanted,
                            NLM_F_REQUEST | NLM_F_DUMP, self.seq, 0) + body
        self.sock.sendto(request, (0, 0))
        buf, recv_into = self.buf, self.sock.recv_into
        unpack_len = _LEN.unpack_from
        while True:
            n = recv_into(buf)
            off = 0
            while off < n:
                length = unpack_len(buf, off)[0]
                kind = buf[off + 4]  # low byte of nlmsg_type; all types we expect are < 256
                if kind == kind_wanted:
                    counts[buf[off + 17]] += 1  # inet_diag_msg.idiag_state
                elif kind == NLMSG_DONE:
                    return
                elif kind == NLMSG_ERROR:
                    errno = -_ERR.unpack_from(buf, off + 16)[0]
                    if errno:
                        raise OSError(errno, f"sock_diag dump refused: {_strerror(errno)}")
                    return
                if length < _HDR.size:
                    raise OSError(0, "sock_diag: malformed netlink message")
                off += (length + 3) & ~3


def count_with_currestab(diag: SockDiag, curr_estab: int) -> list[int]:
    """Counts per state, ESTABLISHED derived from the kernel's Tcp CurrEstab counter.

    Dumping a socket costs the kernel about 1 us (it fills a ~120-byte record with
    attributes), so 20,000 established sockets cost ~20 ms of system time a sample.
    Busy machines have most of their sockets ESTABLISHED, and the kernel already keeps
    their number: Tcp CurrEstab in /proc/net/snmp counts ESTABLISHED plus CLOSE_WAIT
    (RFC 1213 tcpCurrEstab), IPv4 and IPv6, per network namespace.  So the dump asks for
    every state but ESTABLISHED, and established = CurrEstab - close_wait.  Exact while
    no connection changes state between the two reads (a few microseconds).
    """
    counts = diag.count(states=ALL_BUT_ESTABLISHED)
    counts[TCP_ESTABLISHED] = max(0, curr_estab - counts[TCP_CLOSE_WAIT])
    return counts


def _strerror(errno: int) -> str:
    import os
    return os.strerror(errno)
