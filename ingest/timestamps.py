"""Timestamps that are not ns since the epoch, told apart by their size.

ks events carry ns since the epoch (>= 10**18 today).  A smaller value is one of:
ns since this machine booted (the original KernelSight tracers print
bpf_ktime_get_ns()), which is at most the uptime; or epoch seconds, milliseconds or
microseconds (other tools), which land within the last ``PLAUSIBLE_PAST_NS`` once
scaled.  The ranges of the three epoch units never overlap each other.  Epoch
seconds (~1.8e9) never read as ns since boot: no event comes ``MIN_SINCE_BOOT_NS``
after boot.  Milliseconds (~1.8e12) do once the machine has been up 30 minutes,
microseconds (~1.8e15) after 21 days: such a value takes the unit its source has
shown so far, and is rejected while its source has shown none (or both).  A value that fits nothing is taken as ns since boot, as
before: an earlier boot's, then said as a timestamp in the future.
"""

from __future__ import annotations

import time

EPOCH_UNITS = (("s", 10**9), ("ms", 10**6), ("us", 10**3))
SINCE_BOOT = "ns since boot"
MIN_SINCE_BOOT_NS = 10 * 10**9    # the earliest an event comes after boot (init is still starting)
# How old an event in epoch s/ms/us may be and still be taken as one.
PLAUSIBLE_PAST_NS = 10 * 365 * 86400 * 10**9


class Ambiguous(ValueError):
    """The value reads as more than one unit; the message says which and what to do."""


class UnitGuesser:
    def __init__(self, boot_ns: int, skew_ns: int):
        self.boot_ns = boot_ns
        self.skew_ns = skew_ns
        self.source = "-"                                # the source being parsed (set by the caller)
        self.converted: dict[tuple[str, str], int] = {}  # (source, unit) -> timestamps converted

    def to_epoch_ns(self, ts: int, now: int | None = None) -> tuple[str, int]:
        """(unit, ns since the epoch) of a timestamp below 10**18 ns; raises Ambiguous."""
        now = time.time_ns() if now is None else now
        fits = self._epoch_fits(ts, now)
        if MIN_SINCE_BOOT_NS <= ts <= now - self.boot_ns + self.skew_ns:
            fits.append((SINCE_BOOT, self.boot_ns + ts))
        if len(fits) > 1:
            fits = [f for f in fits if (self.source, f[0]) in self.converted]
            if len(fits) != 1:
                raise Ambiguous(
                    f"timestamp {ts} is ambiguous: it reads as ns since boot and as epoch "
                    f"{self._epoch_fits(ts, now)[0][0]}; give ns since the epoch")
        unit, ns = fits[0] if fits else (SINCE_BOOT, self.boot_ns + ts)
        key = (self.source, unit)
        self.converted[key] = self.converted.get(key, 0) + 1
        return unit, ns

    def _epoch_fits(self, ts: int, now: int) -> list[tuple[str, int]]:
        return [(unit, ts * mul) for unit, mul in EPOCH_UNITS
                if now - PLAUSIBLE_PAST_NS <= ts * mul <= now + self.skew_ns]
