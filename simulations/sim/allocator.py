"""Keep the C allocator's freed memory in the process during a simulation run.

A large run (10,000 nodes) repeatedly builds and drops megabyte-sized buffers (each
push-pull moves ~1 MB each way). glibc returns such memory to the kernel as soon as it
is freed (``munmap`` above its mmap threshold, trimming the heap's top above its trim
threshold), and the next buffer faults every page in again: ~1.2 GiB of extra page
faults, seconds of system time, in a 10,000-node crash run. Raising both thresholds
keeps freed memory for reuse; what the simulation computes is unchanged.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "keep_freed_memory"]

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Allocations from this size up get their own mapping (bytes; 32 MiB, glibc's largest;
its default starts at 128 KiB and grows to the largest chunk freed so far)."""

TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
"""Free memory at the heap's top beyond which glibc gives it back (bytes; 1 GiB; glibc's
default is twice the mmap threshold)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers (glibc's ``malloc.h``)."""


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process. Returns False (and does
    nothing) where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
