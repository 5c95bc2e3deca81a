"""Memory the server frees goes back to the system (glibc's allocator, Linux).

By default glibc raises its mmap threshold each time a large block is freed, so the next arrays of
that size come from the heap, and each thread gets an arena of its own: after a classroom of
sessions had come and gone the server kept gigabytes it no longer used. `tune_allocator()` pins
the threshold (large arrays are always mapped, and unmapped when freed), trims freed heap memory
above 64 MiB and keeps two arenas. Elsewhere, or without glibc, it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
_DONE: list[bool] = []
_LOCK = threading.Lock()


def tune_allocator() -> bool:
    """Apply the settings once per process; whether glibc took them."""
    with _LOCK:
        if not _DONE:
            _DONE.append(_apply())
        return _DONE[0]


def _apply() -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return all(mallopt(option, value) == 1 for option, value in
               ((M_MMAP_THRESHOLD, 1 << 20), (M_TRIM_THRESHOLD, 64 << 20), (M_ARENA_MAX, 2)))
