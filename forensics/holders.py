"""Who held the leak's rows: one sweep over every export's rows.

The leak's linked rows (``links``: leak row, row key) are joined once with
the store's export rows, and the answer is kept as a bitmap of exports by the
leak's distinct row keys. From it come each export's count of held leak rows
(membership), the rows whose marks are read for it (its ``per_export``
smallest held row keys, with every leak row linked to them: a rule on the row
keys alone, never on any export's key, so it cannot favour or disfavour an
export), and the leak rows a set of exports holds together (merges).

A plain hash join of the leak's keys against the export rows is the least
any attribution must do; the sweep is that join with the bitmap built inside
it (DuckDB's bitstring_agg, one bit string per export), so DuckDB never
materialises the (leak row, export) pairs and hands over a few bytes per
export and key. Memory is bounded by ``cells``: when exports x distinct keys
exceed it, the exports are swept in ranges (each range a scan that DuckDB's
zone maps mostly skip, as export rows are stored in export order).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from .duck import value_buffers

BITMAP_CELLS = 1 << 29  # exports x distinct keys per sweep range: 64 MiB of bit strings (per DuckDB thread)
BLOCK_BYTES = 1 << 21  # packed bits counted and sampled at a time (2 MiB)


@dataclass
class Holdings:
    """Exports that held at least one of the leak's linked rows."""

    enos: np.ndarray  # export numbers, ascending
    held: np.ndarray  # distinct leak rows each export held
    keys: np.ndarray  # the leak's distinct linked row keys (UInt64), ascending: the bitmap's columns
    bits: np.ndarray  # packed bitmap, one row per export in ``enos``; key i is bit ``pad + i``
    pad: int
    key_starts: np.ndarray  # leak rows linked to key i: key_rows[key_starts[i]:key_starts[i + 1]]
    key_rows: np.ndarray
    one_to_one: bool  # every linked leak row has one key and every key one leak row
    sample_export: np.ndarray  # the sampled (export, key) pairs: index into ``enos`` ...
    sample_key: np.ndarray  # ... and into ``keys``; grouped by export, keys ascending
    held_keys: np.ndarray  # distinct leak keys each export held
    per_export: int  # how deep the sample goes: each export's this many smallest held keys

    def held_rows(self) -> dict[int, int]:
        return dict(zip(self.enos.tolist(), self.held.tolist()))

    def deeper_sample(self, at: np.ndarray, per_export: int) -> tuple[np.ndarray, np.ndarray]:
        """(sample_export, sample_key) as a sweep with ``per_export`` would
        have sampled them, for the exports at indices ``at`` (into ``enos``)
        only: the sweep samples what every export's first read needs, and an
        export read further gets its deeper sample from the bitmap here."""
        at = np.unique(np.asarray(at, np.int64))
        if not len(at):
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        _, _, rows, key = _counts_and_sample(self.bits[at], self.pad, per_export, self.key_starts, self.key_rows,
                                             self.one_to_one, count=False)
        return at[rows].astype(np.int32), key

    def key_indices(self, row_keys: np.ndarray) -> np.ndarray:
        """Indices into ``keys`` of those of ``row_keys`` (UInt64) the leak links to."""
        if not len(self.keys):
            return np.zeros(0, np.int64)
        at = np.minimum(np.searchsorted(self.keys, row_keys), len(self.keys) - 1)
        return at[self.keys[at] == row_keys]

    def rows_of_keys(self, key_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``key_index``, leak row) for every leak row linked to those keys."""
        if self.one_to_one:
            return np.arange(len(key_index)), self.key_rows[key_index]
        return _expand(self.key_starts, self.key_rows, key_index)

    def covered(self, export_nos) -> int:
        """Distinct leak rows held by at least one of ``export_nos``."""
        at = np.flatnonzero(np.isin(self.enos, list(export_nos)))
        if not len(at):
            return 0
        union = np.bitwise_or.reduce(self.bits[at], axis=0)
        keys = np.flatnonzero(np.unpackbits(union)[self.pad:])
        return len(np.unique(self.rows_of_keys(keys)[1]))


def _expand(starts: np.ndarray, key_rows: np.ndarray, key_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = starts[key_index + 1] - starts[key_index]
    pos = np.repeat(np.arange(len(key_index)), counts)
    first = np.repeat(starts[key_index] - (np.cumsum(counts) - counts), counts)
    return pos, key_rows[first + np.arange(len(pos))]


def _links(con: duckdb.DuckDBPyConnection, links: str):
    t = con.execute(f"SELECT DISTINCT __lr, row_key FROM {links}").to_arrow_table()
    lr = t.column("__lr").to_numpy().astype(np.int64)
    key = t.column("row_key").to_numpy()
    keys, kidx = np.unique(key, return_inverse=True)
    order = np.lexsort((lr, kidx))
    kidx, lr = kidx[order], lr[order]
    starts = np.zeros(len(keys) + 1, np.int64)
    np.cumsum(np.bincount(kidx, minlength=len(keys)), out=starts[1:])
    one_to_one = len(lr) == len(keys) == len(np.unique(lr))
    return keys, starts, lr, one_to_one


def sweep(con: duckdb.DuckDBPyConnection, links: str, export_rows: str, export_nos, *, per_export: int,
          cells: int = BITMAP_CELLS) -> Holdings:
    """Sweep ``export_rows`` (export_no, row_key) for the keys in ``links``
    (__lr, row_key), for the exports numbered ``export_nos``."""
    keys, starts, key_rows, one_to_one = _links(con, links)
    n_keys = len(keys)
    width = (n_keys + 7) // 8
    pad = 8 * width - n_keys
    all_enos = np.unique(np.asarray(list(export_nos), dtype=np.int64))
    found, bits = [np.zeros(0, np.int64)], [np.zeros((0, width), np.uint8)]
    if n_keys and len(all_enos):
        con.register("__leak_keys", pa.table({"row_key": pa.array(keys, pa.uint64()),
                                              "k": pa.array(np.arange(n_keys, dtype=np.int32))}))
        try:
            per_range = max(1, cells // n_keys)
            for lo in range(0, len(all_enos), per_range):
                enos = all_enos[lo:lo + per_range]
                where = "" if len(enos) == len(all_enos) else \
                    f" WHERE r.export_no BETWEEN {int(enos[0])} AND {int(enos[-1])}"
                got, rows = _sweep_range(con, export_rows, where, n_keys, width)
                keep = np.isin(got, enos)  # export rows of exports the store does not list are ignored
                found.append(got[keep])
                bits.append(rows[keep])
        finally:
            con.unregister("__leak_keys")
    found, bits = np.concatenate(found), np.concatenate(bits)
    order = np.argsort(found, kind="stable")
    found, bits = found[order], bits[order]
    held, held_keys, sample_export, sample_key = _counts_and_sample(bits, pad, per_export, starts, key_rows,
                                                                    one_to_one)
    return Holdings(enos=found, held=held, keys=keys, bits=bits, pad=pad, key_starts=starts, key_rows=key_rows,
                    one_to_one=one_to_one, sample_export=sample_export, sample_key=sample_key, held_keys=held_keys,
                    per_export=per_export)


_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], np.uint8)


def _word_counts(block: np.ndarray) -> np.ndarray:
    """Set bits in each 8-byte word of a packed block (rows, width): (rows,
    ceil(width / 8)) counts, the last word zero-padded."""
    rows, width = block.shape
    words = -(-width // 8)
    if width % 8:
        block = np.concatenate([block, np.zeros((rows, 8 * words - width), np.uint8)], axis=1)
    if hasattr(np, "bitwise_count"):  # NumPy 2: one popcount instruction a word
        return np.bitwise_count(np.ascontiguousarray(block).view(np.uint64))
    return _POPCOUNT[block].reshape(rows, words, 8).sum(axis=2, dtype=np.uint8)


def _set_bits(block: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, bit position) of every set bit of a packed block, row by row and
    ascending, given each row's count of set bits (a 1-D search over the
    unpacked bits, several times faster than a 2-D np.nonzero)."""
    unpacked = np.unpackbits(block, axis=1)
    flat = np.flatnonzero(unpacked.view(bool))
    rows = np.repeat(np.arange(len(block)), counts)
    return rows, flat - rows * unpacked.shape[1]


def _counts_and_sample(bits, pad, per_export, starts, key_rows, one_to_one, count=True):
    """Each export's distinct held leak rows and keys, and its ``per_export``
    smallest held keys: a block of exports at a time, unpacking each row's bit
    string only as far as the word that holds its ``per_export``-th set bit
    (``count=False``: the sample only, the rows' counts left zero)."""
    n, width = bits.shape
    held = np.zeros(n, np.int64)
    held_keys = np.zeros(n, np.int64)
    s_export, s_key = [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    block = max(1, BLOCK_BYTES // max(1, width))
    for lo in range(0, n, block):
        part = bits[lo:lo + block].copy()
        part[:, 0] &= 0xFF >> pad  # the padding before key 0 is never a key
        ones = _word_counts(part)
        cum = np.cumsum(ones, axis=1, dtype=np.int64)
        counts = cum[:, -1]
        held_keys[lo:lo + len(part)] = counts
        if one_to_one:
            held[lo:lo + len(part)] = counts
        elif count:
            rows, pos = _set_bits(part, counts)
            first = np.cumsum(counts) - counts
            for i, (f, c) in enumerate(zip(first.tolist(), counts.tolist())):
                held[lo + i] = len(np.unique(_expand(starts, key_rows, pos[f:f + c] - pad)[1]))
        # The words holding every row's sample: unpack only those.
        words = min(cum.shape[1], int(((cum < per_export).sum(axis=1) + 1).max()))
        got = cum[:, words - 1]
        rows, pos = _set_bits(part[:, :8 * words], got)
        # each row's first per_export set bits: +1 where a row's run starts, -1 where its sample ends
        run_starts = np.cumsum(got) - got  # (not ``starts``: the key index, needed by the next block)
        edge = np.zeros(len(rows) + 1, np.int8)
        np.add.at(edge, run_starts[got > 0], 1)
        np.add.at(edge, (run_starts + np.minimum(got, per_export))[got > 0], -1)
        take = np.cumsum(edge[:-1], dtype=np.int8) > 0
        s_export.append((rows[take] + lo).astype(np.int32))
        s_key.append((pos[take] - pad).astype(np.int32))
    return held, held_keys, np.concatenate(s_export), np.concatenate(s_key)


def _sweep_range(con, export_rows: str, where: str, n_keys: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(export numbers, their bit strings over the keys as (exports, width)
    bytes): bit ``8 * width - n_keys + k`` is set when the export holds key k.
    Duplicate export rows set the same bit twice, so counts are of distinct keys."""
    t = con.execute(f"""
        SELECT r.export_no, CAST(bitstring_agg(l.k, 0, {n_keys - 1}) AS BLOB) AS bits
        FROM __leak_keys l JOIN {export_rows} r USING (row_key){where}
        GROUP BY r.export_no""").to_arrow_table()
    found = t.column("export_no").to_numpy().astype(np.int64)
    blobs = t.column("bits").combine_chunks()
    if len(found) == 0:
        return found, np.zeros((0, width), np.uint8)
    offsets, data = value_buffers(blobs)
    if not (np.diff(offsets) == width).all():
        raise RuntimeError("unexpected bit string layout from DuckDB")
    data = data[offsets[0]:offsets[0] + width * len(found)]
    return found, data.reshape(len(found), width)
