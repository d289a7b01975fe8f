"""Keep glibc from multiplying heaps under DuckDB's worker threads.

glibc gives each thread that meets contention its own malloc arena (up to
eight per core) and rarely hands their freed pages back. Under an export,
DuckDB's threads churn through gigabytes of short-lived strings, and the
arenas kept ~0.4 GB beyond DuckDB's own memory limit (measured on a
1M-row export, resident at the start of the record stage: 1.12 GB with
glibc's default, 0.68-0.72 GB with two arenas; time unchanged). Two arenas match the two threads that do real work
at once. Must run before threads start; an explicit MALLOC_ARENA_MAX wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_arenas(count: int = 2) -> bool:
    """True if glibc accepted the limit (False elsewhere: macOS, musl, Windows)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's own name: find_library would spawn ldconfig at every start
        return bool(libc.mallopt(_M_ARENA_MAX, int(count)))
    except (OSError, AttributeError):
        return False
