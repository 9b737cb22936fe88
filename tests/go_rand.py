"""Go's ``math/rand`` global stream for seed 1, replayed from recorded values.

Serf's coordinate performance tests call ``rand.Seed(1)`` and draw peers with
``rand.Intn`` and tie-break directions with ``rand.Float64``; their error bounds sit
just above the figures that one stream gives. ``tests/data/go_rand_seed1.bin`` holds the
stream's first ``Int63`` values (little-endian uint64, written by
``tests/data/serf_go/vivrand/main.go``); ``GoRand`` turns them into ``Intn`` and
``Float64`` exactly as Go 1.19's ``math/rand`` does, so our client sees Serf's draws.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

STREAM = struct.unpack(
    f"<{(Path(__file__).parent / 'data' / 'go_rand_seed1.bin').stat().st_size // 8}Q",
    (Path(__file__).parent / "data" / "go_rand_seed1.bin").read_bytes(),
)


class GoRand(random.Random):
    """``random.Random``'s ``random()`` and ``randrange(n)`` as Go's ``Float64()`` and
    ``Intn(n)`` on the recorded seed-1 stream. ``reseed()`` is ``rand.Seed(1)``."""

    def __init__(self) -> None:
        super().__init__(0)
        self.position = 0

    def reseed(self) -> None:
        self.position = 0

    def _int63(self) -> int:
        if self.position >= len(STREAM):
            raise AssertionError("the recorded Go stream is too short for this test")
        value = STREAM[self.position]
        self.position += 1
        return value

    def random(self) -> float:
        while True:
            f = float(self._int63()) / (1 << 63)
            if f != 1.0:  # Go resamples the one value that rounds up to 1
                return f

    def randrange(self, n: int) -> int:  # type: ignore[override]
        # Go's Intn(n) for n < 2**31: Int31n, masking for powers of two, else rejection
        if n & (n - 1) == 0:
            return (self._int63() >> 32) & (n - 1)
        limit = (1 << 31) - 1 - (1 << 31) % n
        v = self._int63() >> 32
        while v > limit:
            v = self._int63() >> 32
        return v % n
