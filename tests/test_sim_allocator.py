"""The simulator's allocator setting: applied where the C library is glibc."""

from __future__ import annotations

import platform

from simulations.sim.allocator import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_only() -> None:
    applied = keep_freed_memory()
    assert applied is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")
