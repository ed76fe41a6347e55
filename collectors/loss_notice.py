"""Saying lost records on stderr without flooding it (under journald every line counts).

The first loss of a run is said at once; later ones are summed and said at most once
every ``EVERY_S`` seconds, and what is left unsaid at the end of the run is said
then, with the run's total.  ``--verbose`` says every interval's.  Each line reads
"N lost: <what> (total T)", N being what was lost since the previous line, so the N
of all the lines of a run add up to everything it lost (tests sum them).
"""

from __future__ import annotations

import time
from typing import Callable

EVERY_S = 60.0


class LossNotice:
    def __init__(self, describe: dict[str, str], say: Callable[[str], None], *, verbose: bool = False,
                 every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.describe = describe        # cause -> what it means, as said after "lost:"
        self.say = say
        self.verbose = verbose
        self.every_s = every_s
        self.clock = clock
        self.unsaid = dict.fromkeys(describe, 0)
        self.total = dict.fromkeys(describe, 0)
        self.said_at: float | None = None   # when a loss was last said (None: never)

    def add(self, lost: dict[str, int]) -> None:
        """One interval's losses by cause; says them now or keeps them for later."""
        for cause, n in lost.items():
            if n > 0:
                self.unsaid[cause] += n
                self.total[cause] += n
        if not any(self.unsaid.values()):
            return
        now = self.clock()
        if self.verbose or self.said_at is None or now - self.said_at >= self.every_s:
            self._say_unsaid()
            self.said_at = now

    def close(self) -> None:
        """The end of the run: each cause that lost is said once more with its total
        (with what is still unsaid, when something is)."""
        for cause, n in self.total.items():
            if self.unsaid[cause]:
                self._say(cause)
            elif n and not self.verbose:
                self.say(f"total lost: {n} ({self.describe[cause]})")
        self.total = dict.fromkeys(self.describe, 0)

    def _say_unsaid(self) -> None:
        for cause, n in self.unsaid.items():
            if n:
                self._say(cause)

    def _say(self, cause: str) -> None:
        self.say(f"{self.unsaid[cause]} lost: {self.describe[cause]} (total {self.total[cause]})")
        self.unsaid[cause] = 0
