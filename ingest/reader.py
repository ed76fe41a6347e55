"""Lines from a file descriptor, in chunks, never blocking past a deadline.

ks-ingest must commit on time while its input pipe is idle, and must end promptly on
SIGTERM while nothing arrives; a blocking ``readline()`` can do neither.  So we wait
in ``select()`` on the input and on the signal wake-up pipe, with a timeout, and read
whatever is there with one ``os.read``.  Lines stay bytes: each one is decoded (and
its UTF-8 checked) by the JSON parser on its own, so one bad line garbles nothing
after it.
"""

from __future__ import annotations

import errno
import os
import select

CHUNK = 1 << 20
MAX_LINE = 1 << 20  # longer lines are rejected; only their first bytes are kept


class Overlong(bytes):
    """The first MAX_LINE bytes of a line that was longer; ``length`` is its size."""

    length: int = 0


class LineSource:
    def __init__(self, fd: int, name: str, *, wake_fd: int | None = None, max_line: int = MAX_LINE):
        self.fd = fd
        self.name = name
        self.wake_fd = wake_fd
        self.max_line = max_line
        self.lineno = 0          # lines handed out so far
        self.eof = False
        self._tail = b""
        self._skipping: Overlong | None = None
        self._cr = False         # the last chunk ended in \r: maybe half of a \r\n
        self._held: list[bytes] = []   # lines read past a skip(), handed out next

    def read(self, timeout: float | None) -> list[bytes]:
        """The complete lines that arrived within ``timeout`` seconds (maybe none).

        Returns early, with no lines, when the wake-up fd becomes readable (a
        signal).  After EOF, ``eof`` is true and the unterminated tail is returned.
        """
        if self._held:
            held, self._held = self._held, []
            self.lineno += len(held)
            return held
        if self.eof:
            return []
        fds = [self.fd] if self.wake_fd is None else [self.fd, self.wake_fd]
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            ready = [self.fd]     # not selectable: fall through to a plain read
        if self.fd not in ready:
            return []
        try:
            data = os.read(self.fd, CHUNK)
        except InterruptedError:
            return []
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return []
            raise
        if not data:
            self.eof = True
            return self._finish()
        return self._split(data)

    def _line_ends(self, data: bytes) -> bytes:
        """\r\n and a lone \r (old Mac files, some serial consoles) end a line as \n
        does; JSON has no raw \r inside a string, so one never splits an event."""
        if self._cr:
            data, self._cr = b"\r" + data, False
        if b"\r" not in data:
            return data
        if data.endswith(b"\r"):       # the \n may come with the next read
            data, self._cr = data[:-1], True
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _split(self, data: bytes) -> list[bytes]:
        data = self._line_ends(data)
        out: list[bytes] = []
        if self._skipping is not None:
            nl = data.find(b"\n")
            if nl < 0:
                self._skipping.length += len(data)
                return out
            self._skipping.length += nl
            out.append(self._skipping)
            self._skipping = None
            data = data[nl + 1:]
        lines = (self._tail + data).split(b"\n") if self._tail else data.split(b"\n")
        tail = lines.pop()
        if len(tail) > self.max_line:
            self._skipping = _overlong(tail, self.max_line)
            tail = b""
        self._tail = tail
        if max(map(len, lines), default=0) > self.max_line:
            lines = [_overlong(x, self.max_line) if len(x) > self.max_line else x for x in lines]
        out.extend(lines)
        self.lineno += len(out)
        return out

    def skip(self, n: int) -> int:
        """Read past the first ``n`` lines without handing them out (--resume);
        returns how many there were (fewer when the file has shrunk)."""
        while self.lineno < n and not self.eof:
            lines = self.read(None)
            if self.lineno > n:                  # read past the skip: hand those out next
                keep = self.lineno - n
                self._held, self.lineno = lines[-keep:], n
        return self.lineno

    def unterminated(self) -> list[bytes]:
        """The last line, still without its line end, when we stop reading early."""
        return [] if self.eof else self._finish()

    def _finish(self) -> list[bytes]:
        out: list[bytes] = []
        if self._skipping is not None:
            out.append(self._skipping)
            self._skipping = None
        elif self._tail:
            out.append(self._tail)
        self._tail = b""
        self.lineno += len(out)
        return out


def _overlong(prefix: bytes, limit: int) -> Overlong:
    o = Overlong(prefix[:limit])
    o.length = len(prefix)
    return o
