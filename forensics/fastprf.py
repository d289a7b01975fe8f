"""The canary.prf PRF over whole Arrow columns, natively.

canary._prfcore (C, optional) computes HMAC-SHA256 of ``label|value`` for
every string of a column from the key's precomputed pad states, on all cores
and with the CPU's SHA instructions where it has them: about fifty times
faster than the same HMAC written with DuckDB's sha256() (forensics.sqlprf),
which remains the fallback where the extension was not built. Both give
exactly canary.prf.Key.mac (tests check all three agree).

``TRACER_NATIVE=0`` in the environment turns the native path off (to compare
or to rule it out).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pyarrow as pa

from canary.prf import Key

try:  # built by pip install where a C compiler exists
    from canary import _prfcore
except ImportError:  # pragma: no cover - exercised on machines without a compiler
    _prfcore = None

THREADS = max(1, min(os.cpu_count() or 1, 16))


def available() -> bool:
    return _prfcore is not None and os.environ.get("TRACER_NATIVE", "1") != "0"


def engine() -> str:
    """What computes the PRF over columns: 'sha-ni', 'portable' (C) or 'sql'."""
    return _prfcore.engine() if available() else "sql"


class Keys:
    """One or more keys' HMAC pad midstates, ready for the C core. Hazmat:
    derived from the secrets; kept in memory only."""

    def __init__(self, keys: Sequence[Key]) -> None:
        if not keys:
            raise ValueError("no keys")
        pads = b"".join(i + o for i, o in (k.hmac_pads() for k in keys))
        self._mids = _prfcore.midstates(pads)
        self.count = len(keys)


def _plain(values) -> pa.Array:
    """A single string chunk with int32/int64 offsets starting at zero."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.large_string())
    if values.offset:
        values = pa.concat_arrays([values])  # re-based copy
    return values


def _run(keys: Keys, label: str, values, mode: int, key_index: np.ndarray | None,
         value_index: np.ndarray | None = None):
    if "|" in label:
        raise ValueError("a PRF label may not contain '|'")
    arr = _plain(values)
    nvals = len(arr)
    wide = pa.types.is_large_string(arr.type)
    bufs = arr.buffers()
    offsets = bufs[1] if bufs[1] is not None else pa.py_buffer(np.zeros(nvals + 1, np.int64 if wide else np.int32))
    data = bufs[2] if bufs[2] is not None else pa.py_buffer(b"")
    vidx = None
    n = nvals
    if value_index is not None:
        vidx = np.ascontiguousarray(value_index, dtype=np.int32)
        n = len(vidx)
    out = np.empty(n, np.uint64) if mode == 0 else np.empty(n * 32, np.uint8)
    kidx = None
    if key_index is not None:
        kidx = np.ascontiguousarray(key_index, dtype=np.int32)
        if len(kidx) != n:
            raise ValueError("one key index per value")
    if n:
        _prfcore.hmac(keys._mids, kidx, vidx, f"{label}|".encode(), offsets, wide, data, nvals, n, mode, out, THREADS)
    return arr, out


def digest64(keys: Keys, label: str, values, key_index: np.ndarray | None = None) -> pa.Array:
    """Key.digest64(label, v) for every v (UInt64; null stays null). Mostly
    null columns (a repeat export keys a row's later identifiers only where
    its first is missing) are keyed on their non-null values only."""
    arr = _plain(values)
    if arr.null_count > len(arr) // 4:
        at = np.flatnonzero(arr.is_valid().to_numpy(zero_copy_only=False)).astype(np.int32)
        _, some = _run(keys, label, arr, 0, None if key_index is None else np.asarray(key_index)[at], at)
        out = np.zeros(len(arr), np.uint64)
        out[at] = some
    else:
        arr, out = _run(keys, label, arr, 0, key_index)
    return pa.Array.from_buffers(pa.uint64(), len(arr), [arr.buffers()[0], pa.py_buffer(out)], arr.null_count)


def hmac_bytes(keys: Keys, label: str, values, key_index: np.ndarray | None = None,
               value_index: np.ndarray | None = None) -> np.ndarray:
    """Key.mac(label, v) for every (non-null) v as an (n, 32) uint8 array
    (bytes, not hex: half the memory, and nothing to decode to read it).
    With ``value_index``, row r is the MAC of ``values[value_index[r]]``
    (under key ``key_index[r]``): a value used by many rows is not copied."""
    arr, out = _run(keys, label, values, 1, key_index, value_index)
    return out.reshape(-1, 32)
