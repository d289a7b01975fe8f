"""Mark evidence for every candidate export at once.

Each export's marks are read on the leak rows linked to its ``mark_sample``
smallest held row keys (forensics.holders picks them). Exports are grouped by
(mark column, leak column) so one pass serves all of them; each leak value is
parsed once per column; each sampled (export, row) pair is keyed once per
material group, natively in batches (two at a time: the PRF core and NumPy
release the GIL), and read with forensics.markread. Per export and column the
evidence is a binomial tail at the lattice's null rate 1/q (canary.marks),
with a correction when the column was matched by kind among several.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary.kinds import Kind
from canary.prf import export_key

from . import fastprf, markplan, markread, markwrite
from .coltypes import normalise_header
from .duck import insert_rows, qident
from .evidence import Candidate, MarkColumnEvidence

MATERIAL_BATCH = 1 << 18  # (export, row) pairs keyed at a time: 8 MiB of material per batch in flight
MARK_THREADS = 2  # batches read at once
ROUNDED_SHARE = 0.3  # fewer non-round amounts than this: the column was rounded (erased)


class MarkReader:
    """Reads marks for an attribution: ``con`` holds the TEMP TABLE leak,
    ``holdings`` who held what (forensics.holders), ``exports`` the store's
    exports by number, ``types`` the leak's typed columns. Each export's
    sample is its ``sample`` smallest held keys; the holdings' own sample
    (the sweep's) may be shallower: the first stage reads only that."""

    def __init__(self, con, holdings, exports: dict, keyring: dict, types: list, leak_rows: int,
                 sample: int) -> None:
        self.con, self.holdings, self.exports, self.keyring = con, holdings, exports, keyring
        self.types, self.leak_rows, self.sample = types, leak_rows, sample
        self._deep: dict[int, np.ndarray] = {}  # holding index -> its whole sample's keys (deeper than the sweep's)
        self._parsed: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._holding_index = {eno: i for i, eno in enumerate(holdings.enos.tolist())}
        self._leak_by_header = {normalise_header(t.name): t for t in types}
        self._left_cache: dict[tuple, np.ndarray | None] = {}  # (export, channel) -> _left_unmarked

    def _pairs(self, e) -> list[tuple[markplan.MarkColumn, str, int]]:
        """(mark column, leak column, tries) pairs: by header, else by kind (counted for the correction)."""
        leak_by_header = self._leak_by_header
        taken_by_name = {normalise_header(n) for n in e.columns}
        out = []
        for md in e.params.get("mark_columns", []):
            m = markplan.MarkColumn(**md)
            t = leak_by_header.get(normalise_header(m.name))
            if t is not None:
                out.append((m, t.name, 1))
                continue
            kind = Kind.AMOUNT if m.kind == "amount" else Kind.DATE
            options = [t.name for t in self.types if t.kind is kind and normalise_header(t.name) not in taken_by_name]
            out.extend((m, name, len(options)) for name in options)
        return out

    def _rounded(self, leak_col: str, m: markplan.MarkColumn) -> bool:
        """Whether a leak column lost the precision a channel needs (a value-only
        test, so it cannot favour or disfavour any export): such marks are erased.
        Amounts: fewer than ROUNDED_SHARE of the readable values (whole yuan for
        the coarse channel) are off a multiple of ten; dates: none readable."""
        units, valid = self._units(leak_col, m)
        u = units[valid]
        if m.kind != "amount":
            return len(u) == 0
        if m.channel == "coarse":
            u = (np.abs(u) + m.per_unit // 2) // m.per_unit
        return len(u) == 0 or np.count_nonzero(u % 10) < ROUNDED_SHARE * len(u)

    def sampled(self, eno: int) -> int:
        """Held keys in an export's mark sample (forensics.holders)."""
        i = self._holding_index.get(eno)
        return 0 if i is None else min(self.sample, int(self.holdings.held_keys[i]))

    def _sample_of(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(holding index, key index) of the whole sample of the exports at
        holding indices ``at``, grouped by export, keys ascending."""
        h = self.holdings
        if self.sample <= h.per_export:  # the sweep sampled at least as deep as a whole sample
            pick = np.isin(h.sample_export, at) & (self._sample_rank < self.sample)
            return h.sample_export[pick], h.sample_key[pick]
        missing = np.setdiff1d(at, np.fromiter(self._deep, np.int64, len(self._deep)))
        if len(missing):
            exp, key = h.deeper_sample(missing, self.sample)
            cut = np.searchsorted(exp, missing, side="right")
            for i, part in zip(missing.tolist(), np.split(key, cut[:-1])):
                self._deep[i] = part
        at = np.unique(at)
        keys = [self._deep[i] for i in at.tolist()]
        return (np.repeat(at, [len(k) for k in keys]).astype(np.int32),
                np.concatenate(keys) if keys else np.zeros(0, np.int32))

    @functools.cached_property
    def _sample_rank(self) -> np.ndarray:
        """Each sampled pair's place among its export's sampled keys (0 = smallest)."""
        return _rank_within(self.holdings.sample_export, len(self.holdings.enos))

    def read(self, cands: dict[int, Candidate], rows: int | None = None) -> None:
        """Append each candidate's mark evidence (and erased columns), read on
        the rows of its ``rows`` smallest sampled keys (all of them: None)."""
        keyed = [eno for eno in cands if self.exports[eno].key_id in self.keyring
                 and self.exports[eno].params.get("mark_columns")]
        for eno in keyed:
            cands[eno].marks_rows_read = self.sampled(eno) if rows is None else min(rows, self.sampled(eno))
        if not keyed:
            return
        # Group exports by identical (mark column, leak column) so one pass serves many exports.
        jobs: dict[tuple, list[int]] = defaultdict(list)
        rounded_cache: dict[tuple, bool] = {}
        for eno in keyed:
            e, c = self.exports[eno], cands[eno]
            for m, leak_col, tries in self._pairs(e):
                rk = (leak_col, m.kind, m.channel, m.decimals)
                if rk not in rounded_cache:
                    rounded_cache[rk] = self._rounded(leak_col, m)
                if rounded_cache[rk]:
                    c.erased_columns.append(f"{leak_col} ({m.channel})")
                    continue
                jobs[(m, leak_col, tries)].append(eno)
        tallies = self._read_marks(keyed, jobs, rows)
        for (m, leak_col, tries), enos in jobs.items():
            at = np.array([self._holding_index.get(eno, -1) for eno in enos], np.int64)
            held = at >= 0
            # (no holder at all, e.g. a leak of canaries only: every tally is zero)
            n, agree, disagree, keys = (np.where(held, x[at] if len(x) else 0, 0)
                                        for x in tallies[(m, leak_col, tries)])
            # One tail per tally, all at once: a column's log p, corrected for the leak columns tried.
            log_ps = markread.tail_log_p(agree, n, keys, m.q)
            if tries > 1:
                log_ps = np.minimum(0.0, log_ps + math.log(tries))
            for eno, got, log_p in zip(enos, zip(n.tolist(), agree.tolist(), disagree.tolist()), log_ps.tolist()):
                ev = MarkColumnEvidence(m.name, leak_col, m.kind, m.q, *got, channel=m.channel,
                                        shows_absence=self._left(eno, m) is not None)
                ev.log_p = log_p
                cands[eno].marks.append(ev)

    def own_marks(self, eno: int, later: list[int], kin: dict[int, np.ndarray] | None = None,
                  kin_only: frozenset[int] = frozenset(),
                  source_rows: np.ndarray | None = None) -> list[MarkColumnEvidence] | None:
        """Export ``eno``'s marks read again on its whole sample, on the cells
        that no copy of the ``later`` exports could have carried. A later
        export made from its copy, or from a source that held its copy (a
        recipient's file merged back into the bank's data, unrecognised when
        the later export was made), carries these marks in every cell it did
        not mark itself. What such a copy cannot carry:

        * cells of leak rows the later export did not hold (under any of the
          row keys the leak row links to), or of a column it never received
          (no column of its has the leak column's header, and none of the
          same kind could have been renamed to it);
        * cells the later export marked itself, on the same leak column (by
          header) and the same channel (kind, channel, q, decimals), written
          in a form its embedding parses to the same units, and far enough
          inside the channel's range that its embedding must have moved the
          value: its mark put the value on its own point, whose offset is a
          PRF output of its key, so the value lands on this export's point
          with probability 1/q whatever its source held. Which cells pass
          "must have moved" depends on where the later mark put the value,
          so near the range's edge that chance is not 1/q: agreements are
          counted only on cells three spans inside, while every kept cell
          counts as read (fewer agreements than the truth: conservative).

        A leak row whose customer a later export held under another row key
        (``kin``: indices into the leak's keys, per later export; its source
        had the row's ID number mangled and keyed it by customer number, say)
        counts as held by it with that key unknown; for those in ``kin_only``
        (their fingerprint shows their copy is not in the leak, or they link
        to no leak row) only such rows count as held.

        ``source_rows`` (leak row numbers): rows a bank source recorded as
        holding this export's copy holds (a returned file that became the
        bank's data): such a source may carry these marks in any of its
        cells, so none of those rows count.

        Under innocence the cells kept are a subset of this export's cells
        chosen without its key, so the tail stays valid either way. None
        where a later export's key is missing (its marks cannot be placed:
        nothing may count as this export's own)."""
        kin = kin or {}
        e = self.exports[eno]
        ia = self._holding_index.get(eno)
        if ia is None or e.key_id not in self.keyring or not e.params.get("mark_columns"):
            return []
        later = [b for b in later if b in self._holding_index or len(kin.get(b, ()))]
        if any(self.exports[b].key_id not in self.keyring for b in later):
            return None
        h = self.holdings
        key = self._sample_of(np.array([ia]))[1]  # its sample, as the full read took it
        if not len(key):
            return []
        pos, lr = h.rows_of_keys(key)
        material, _ = self._material_keys([eno, *later])
        n_keys = len(h.keys)

        def material_of(export_no: int, keys: np.ndarray, group: int) -> np.ndarray:
            exp = np.full(len(keys), self._holding_index[export_no], np.int64)
            return material(exp, keys, [group])[group]

        # Each later export's row key for each of these leak rows: -1 it held none of the
        # row's keys, -2 several (which one its copy wrote the row under is unknown).
        their_key = {}
        for b in later:
            at = np.full(self.leak_rows, -1, np.int64)
            if b in self._holding_index and b not in kin_only:
                held = np.flatnonzero(np.unpackbits(h.bits[self._holding_index[b]])[h.pad:h.pad + n_keys])
                if len(held):
                    p_b, lr_b = h.rows_of_keys(held)
                    at[lr_b] = held[p_b]
                    at[np.bincount(lr_b, minlength=self.leak_rows) > 1] = -2
            if len(kin.get(b, ())):  # it held the customer under another key too: which one it wrote is unknown
                _, lr_kin = h.rows_of_keys(kin[b])
                at[lr_kin] = -2
            their_key[b] = at[lr]
        in_source = np.zeros(len(lr), bool)
        if source_rows is not None and len(source_rows):
            in_source = np.isin(lr, source_rows)
        own_columns = {normalise_header(n) for n in e.columns}
        leak_headers = set(self._leak_by_header)
        mats: dict[tuple, np.ndarray] = {}
        out = []
        for m, leak_col, tries in self._pairs(e):
            if self._rounded(leak_col, m):
                continue
            values, valid = self._units(leak_col, m)
            if (eno, m.group) not in mats:
                mats[(eno, m.group)] = material_of(eno, key, m.group)
            selected, dither, bit = markread.plan(mats[(eno, m.group)], m)
            header = normalise_header(leak_col)
            own = ~in_source  # per (key, leak row): no later copy could carry this cell
            deep = own.copy()  # ... and its agreement counts
            for b in later:
                eb, kb = self.exports[b], their_key[b]
                if not _received(eb, header, m.kind, own_columns, leak_headers):
                    continue
                held, known = kb != -1, kb >= 0
                replaced, inside = np.zeros(len(lr), bool), np.zeros(len(lr), bool)
                for mb, leak_col_b, tries_b in self._pairs(eb):
                    if (leak_col_b == leak_col and tries_b == 1 and mb.kind == m.kind and mb.channel == m.channel
                            and mb.q == m.q and mb.decimals == m.decimals):
                        rows = np.flatnonzero(known)
                        if not len(rows):  # it marked none of these rows under a key the leak links to
                            continue
                        if (b, mb.group) not in mats:
                            mats[(b, mb.group)] = material_of(b, kb[rows], mb.group)
                        sel_b = np.zeros(len(lr), bool)
                        sel_b[rows] = markread.plan(mats[(b, mb.group)], mb)[0]
                        # Cells it selected but wrote as they came (unparsed, or given back to
                        # its filter) never moved, however the leak now writes them; an export
                        # that did not record them has no cell trusted as its own re-mark.
                        left = self._left(b, mb)
                        if left is None:
                            continue
                        sel_b[rows] &= ~np.isin(h.keys[kb[rows]], left)
                        strict_u, strict_ok = self._units(leak_col, mb, reading=False)
                        sel_b &= strict_ok[lr] & (strict_u[lr] == values[lr])  # its embedding read this value
                        replaced |= sel_b & _surely_moved(values[lr], valid[lr], mb)
                        inside |= sel_b & _surely_moved(values[lr], valid[lr], mb, spans=3)
                own &= ~held | replaced
                deep &= ~held | inside
            p = np.flatnonzero(valid[lr] & selected[pos] & own)
            readings, agree, disagree, keys = (int(x[0]) for x in markread.counts_by_key(
                pos[p], np.zeros(len(p), np.int64), 1, values[lr[p]], dither[pos[p]], bit[pos[p]], m, counted=deep[p]))
            ev = MarkColumnEvidence(m.name, leak_col, m.kind, m.q, readings, agree, disagree, channel=m.channel)
            ev.log_p = float(markread.tail_log_p([agree], [readings], [keys], m.q)[0])
            if tries > 1:
                ev.log_p = min(0.0, ev.log_p + math.log(tries))
            out.append(ev)
        return out

    def _read_marks(self, keyed: list[int], jobs: dict[tuple, list[int]], rows: int | None) -> dict[tuple, tuple]:
        """Per job, arrays over the holding exports: readings, agreeing and
        disagreeing keys, and keys read among each export's sampled rows
        (markread.counts_by_key: cells of one key are one trial). Each leak
        value is parsed once per column; each sampled (export, row) is keyed
        once per material group, in batches."""
        h = self.holdings
        size = len(h.enos)
        tallies = {job: tuple(np.zeros(size, np.int64) for _ in range(4)) for job in jobs}
        if not jobs or not size:
            return tallies
        in_job = {job: None if len(enos) == len(keyed) else np.isin(h.enos, enos) for job, enos in jobs.items()}
        groups = sorted({m.group for m, _, _ in jobs})
        if rows is not None and rows <= h.per_export:  # the first stage: the sweep's sample holds it
            pick = np.isin(h.enos, np.asarray(keyed))[h.sample_export]
            if rows < h.per_export:
                pick &= self._sample_rank < rows
            s_export, s_key = h.sample_export[pick], h.sample_key[pick]
        else:
            s_export, s_key = self._sample_of(np.flatnonzero(np.isin(h.enos, keyed)))
            if rows is not None:
                keep = _rank_within(s_export, size) < rows
                s_export, s_key = s_export[keep], s_key[keep]
        material, parallel = self._material_keys(keyed)
        units = {(leak_col, m): self._units(leak_col, m) for m, leak_col, _ in jobs}
        n_keys = np.int64(len(h.keys))
        left = {job: self._left_pairs(job[0], enos) for job, enos in jobs.items()}

        def batch(start: int) -> dict[tuple, tuple]:
            exp, key = s_export[start:start + MATERIAL_BATCH], s_key[start:start + MATERIAL_BATCH]
            material_of = material(exp, key, groups)
            pos, lr = h.rows_of_keys(key)  # one_to_one: pos is every pair in order
            plans, words, out = {}, {}, {}
            for job in jobs:
                m, leak_col, _ = job
                if m not in plans:
                    if (m.group, m.slot) not in words:
                        words[(m.group, m.slot)] = markread.slot_word(material_of[m.group], m.slot)
                    plans[m] = markread.plan(material_of[m.group], m, words[(m.group, m.slot)])
                selected, dither, bit = plans[m]
                values, valid = units[(leak_col, m)]
                keep = valid[lr] & (selected if h.one_to_one else selected[pos])
                if in_job[job] is not None:
                    keep &= in_job[job][exp if h.one_to_one else exp[pos]]
                if left[job] is not None:  # cells it selected but wrote unmarked carry no mark of its
                    pairs = exp.astype(np.int64) * n_keys + key.astype(np.int64)
                    keep &= ~np.isin(pairs if h.one_to_one else pairs[pos], left[job])
                if h.one_to_one:  # one cell per key
                    p = np.flatnonzero(keep)
                    readable, agree, disagree = markread.counts(exp[p], size, values[lr[p]], dither[p], bit[p], m)
                    out[job] = (readable, agree, disagree, readable)
                else:
                    cell = np.flatnonzero(keep)
                    p = pos[cell]
                    out[job] = markread.counts_by_key(p, exp[p], size, values[lr[cell]], dither[p], bit[p], m)
            return out

        starts = range(0, len(s_export), MATERIAL_BATCH)
        # NumPy and the PRF core release the GIL: two batches at a time keep two cores busy.
        with ThreadPoolExecutor(max_workers=MARK_THREADS if parallel else 1) as pool:
            for got in pool.map(batch, starts):
                for job, parts in got.items():
                    for total, part in zip(tallies[job], parts):
                        total += part
        return tallies

    def _left(self, eno: int, m: markplan.MarkColumn) -> np.ndarray | None:
        """_left_unmarked of export ``eno``'s channel ``m``, read once."""
        if (eno, m) not in self._left_cache:
            self._left_cache[(eno, m)] = _left_unmarked(self.exports[eno], m)
        return self._left_cache[(eno, m)]

    def _left_pairs(self, m: markplan.MarkColumn, enos: list[int]) -> np.ndarray | None:
        """(holding index * keys + key index) of the sampled pairs whose cell
        of channel ``m`` the export selected but wrote unmarked (tracer.commit
        records their row keys), sorted; None where there are none."""
        h, n_keys, out = self.holdings, len(self.holdings.keys), []
        for eno in enos:
            left, at = self._left(eno, m), self._holding_index.get(eno)
            if left is None or at is None or not len(left):
                continue
            out.append(np.int64(at) * n_keys + h.key_indices(left).astype(np.int64))
        return np.unique(np.concatenate(out)) if out else None

    def _units(self, leak_col: str, m: markplan.MarkColumn, reading: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(units, readable) of every leak row (indexed by rowid) as marks read
        them (``reading=False``: as an export's embedding parses them, the
        strict forms it writes): each leak value is parsed once per column
        and reading."""
        how = (leak_col, m.kind, m.decimals, reading)
        if how not in self._parsed:
            self._parsed[how] = self._leak_units(leak_col, m, reading)
        return self._parsed[how]

    def _leak_units(self, leak_col: str, m: markplan.MarkColumn, reading: bool) -> tuple[np.ndarray, np.ndarray]:
        t = self.con.execute(f"SELECT rowid AS __lr, {markplan.units_sql(qident(leak_col), m, reading=reading)} AS u "
                             "FROM leak").to_arrow_table()
        lr = t.column("__lr").to_numpy()
        u = t.column("u")
        units = np.zeros(self.leak_rows, np.int64)
        valid = np.zeros(self.leak_rows, bool)
        units[lr] = u.fill_null(0).to_numpy()
        valid[lr] = u.is_valid().to_numpy(zero_copy_only=False)
        return units, valid

    def _material_keys(self, keyed: list[int]):
        """(function, thread-safe): the function maps (holding index, key
        index, groups) to {group: (n, 32) material bytes}, each pair's keyed mark
        material under its export's key, natively where the PRF core is
        built, else in SQL (on this connection, so one batch at a time)."""
        h = self.holdings
        wanted = set(keyed)
        order = [eno for eno in h.enos.tolist() if eno in wanted]
        ekeys = [export_key(self.keyring[self.exports[eno].key_id], self.exports[eno].export_id) for eno in order]
        slot = np.full(len(h.enos), -1, np.int32)
        slot[np.isin(h.enos, order)] = np.arange(len(order), dtype=np.int32)
        row_keys = pa.array(h.keys, pa.uint64())
        if fastprf.available():
            keys = fastprf.Keys(ekeys) if ekeys else None
            as_text = pc.cast(row_keys, pa.string())  # material_bytes' own cast is then a no-op

            def native(exp, key, groups):
                return markplan.material_bytes(keys, as_text, groups, key_index=slot[exp], take=key)
            return native, True
        insert_rows(self.con, "ekeys", ["k", "ipad", "opad"], [(i, *k.hmac_pads()) for i, k in enumerate(ekeys)],
                    [pa.int32(), pa.binary(), pa.binary()])

        def sql(exp, key, groups):
            pairs = pa.table({"pos": pa.array(np.arange(len(exp), dtype=np.int64)), "k": pa.array(slot[exp]),
                              "row_key": row_keys.take(pa.array(key))})
            mats = ", ".join(f"{markplan.material_sql('p.row_key', g, ipad_sql='e.ipad', opad_sql='e.opad')} "
                             f"AS __m{g}" for g in groups)
            self.con.register("__pairs", pairs)
            try:
                t = self.con.execute(f"SELECT p.pos, {mats} FROM __pairs p JOIN ekeys e USING (k) "
                                     "ORDER BY p.pos").to_arrow_table()
            finally:
                self.con.unregister("__pairs")
            return {g: markread.from_hex(t.column(f"__m{g}")) for g in groups}
        return sql, False  # one connection: one query at a time


def _rank_within(group: np.ndarray, groups: int) -> np.ndarray:
    """Each element's place within its group (0 = first), for elements grouped
    by ``group`` in ascending order."""
    sizes = np.bincount(group, minlength=groups)
    return np.arange(len(group)) - np.repeat(np.cumsum(sizes) - sizes, sizes)


def _received(e, header: str, kind: str, earlier_columns: set[str], leak_headers: set[str]) -> bool:
    """Could export ``e``'s copy hold the leak column ``header`` (of mark
    ``kind``)? Not if the earlier export's own header is the leak's and ``e``
    has no column of that name, nor one of that kind the leak lacks (which a
    leaker could have renamed to it)."""
    names = {normalise_header(n) for n in e.columns}
    if header in names or header not in earlier_columns:
        return True
    kinds = e.params.get("column_kinds", {})
    return any(k == kind and normalise_header(n) not in leak_headers for n, k in kinds.items())


def _left_unmarked(e, col: markplan.MarkColumn) -> np.ndarray | None:
    """Row keys of the rows whose ``col`` cell export ``e`` selected but
    wrote unmarked though a value was there (tracer.commit records them per
    channel); None where it did not record them or had too many to list."""
    columns = e.params.get("mark_columns", [])
    unmarked = e.params.get("unmarked")
    at = next((j for j, md in enumerate(columns) if markplan.MarkColumn(**md) == col), None)
    if unmarked is None or at is None or at >= len(unmarked) or unmarked[at] is None:
        return None
    return np.array([int(k, 16) for k in unmarked[at]], np.uint64)


def _surely_moved(units: np.ndarray, valid: np.ndarray, col: markplan.MarkColumn, spans: int = 1) -> np.ndarray:
    """Values an export marking them on ``col`` must have moved: every value
    its embedding could have moved onto this one (at most q steps away, plus
    half a yuan of cents on the coarse channel), ``spans`` times over, was
    eligible for embedding."""
    per = col.per_unit if col.channel == "coarse" else 1
    span = spans * (col.q * per + (per if col.channel == "coarse" else 0))
    below = markwrite.eligible(units - span, valid, col)
    above = markwrite.eligible(units + span, valid, col)
    if col.kind == "amount":  # eligible amounts are two rays (less round values): both ends on one of them
        rays = below & above & ((units - span > 0) == (units + span > 0))
        if col.round_units is None:
            return rays
        r = col.round_units  # and no round value between them
        return rays & (np.floor_divide(units + span, r) == np.floor_divide(units - span - 1, r))
    return below & above  # eligible dates are one interval
