"""Planting canaries in an export: unique ones, and pooled ones shared by a keyed subset.

Unique canaries name one export. Pooled canaries exist once per source (made
from the source's own rows with a key of their own) and each export takes
each of them with a keyed coin of probability ``SHARE_PROBABILITY`` (if it
passes the export's filter). When colluders keep only the rows they all hold,
unique canaries vanish but pooled ones they share survive and point into the
coalition; for an innocent export, membership of each surviving pooled canary
is its own independent coin, which is what the attribution test uses.

The synthesis itself is pure (canary.synth); this module feeds it donors,
checks, and the export's filter, through DuckDB.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary import contract, validators
from canary.kinds import IDENTIFIERS, Kind
from canary.prf import Key, Stream
from canary.synth import (DATE_PATTERNS, RECENT, CodeRange, Column, digit_string, event_date, parse_date, put_digits,
                          skeleton, synthesize)
from forensics import markplan
from forensics.duck import insert_rows
from forensics.normalize import KIND_CODES, identity_label, normalise, sql_normalise

from .filters import qident, where_flag

SHARE_PROBABILITY = 0.25  # chance that an export takes a given pooled canary
UNIQUE_STREAM = "canary/v1"  # label of the stream unique canaries (and their donors' positions) come from
MATE_CHOICES = 8  # rows drawn as a canary's mate; the first in the donor's tier lends it
MATE_STREAM = "canary-mate/v1"  # the positions of the rows that lend each unique canary a surname and amounts
PLACE_STREAM = "canary-place/v1"  # where each unique canary is written
ORDER_STREAM = "canary-order/v1"  # codes drawn between a sorted list's neighbours
ROOM_STREAM = "canary-room/v1"  # where a canary moves to find free codes in every ascending column
MAX_DRAW = 1 << 62  # the widest range a code is drawn from (Stream.below takes at most 2**64)
CODE_BITS = 1 << 26  # codes in a range whose real ones are held as bits (8 MiB at most)
FOLLOWS_DATES = 0.95  # rank correlation from which a customer number follows a date column (numbered as they came)
FOLLOW_SAMPLE = 20000  # rows sampled to measure it
MENU_VALUES, MENU_ROWS = 100, 5  # a rate column's menu: at most this many values, each this many rows on average
SHIFT_DAYS = 45  # how far such a canary's dates may move to a day with a free number
DATE_FORMATS = "[" + ", ".join(f"'{fmt}'" for _, fmt in DATE_PATTERNS) + "]"  # the dates synthesis reads, in SQL


def default_canary_count(rows: int) -> int:
    """About one canary per 200 rows (0.5%), at least 1, at most 1,000; none
    in a list too small to hide one."""
    if rows < 10:
        return 0
    return max(1, min(1000, math.ceil(rows / 200)))


def pool_size(source_rows: int) -> int:
    """Pooled canaries per source: each export takes about a quarter of them."""
    if source_rows < 40:
        return 0
    return max(4, min(2000, math.ceil(source_rows / 100)))


@dataclass(frozen=True)
class Parents:
    """The real rows a canary takes from besides its donor (canary.synth.synthesize)."""
    mate: dict  # the surname and the phone prefix
    lender: dict  # the amounts and other columns
    timeline: dict  # the birthdate and the event dates


@dataclass
class DatedCodes:
    """A customer-number column numbered in the order of a date column (a
    bank numbers customers as they open): per distinct day (ordinal,
    ascending) the least and greatest number of its rows, and how many."""
    date_col: str
    days: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray

    def slots(self, day: int, lo: int, hi: int, reach: int = SHIFT_DAYS):
        """(day, first, last), nearest first: the numbers (within ``lo``..``hi``)
        between the days before and after ``day`` where one is free of rows,
        on ``day`` or on the days with customers within ``reach`` days; none
        where the list is numbered without gaps there, or not in order.
        (A number may still be another canary's.)"""
        days, n = self.days, len(self.days)
        i = int(np.searchsorted(days, day))

        def bounds(before: int, after: int) -> tuple[int, int]:  # indices of the days around
            return (max(lo, int(self.high[before]) + 1) if before >= 0 else lo,
                    min(hi, int(self.low[after]) - 1) if after < n else hi)

        if i == n or days[i] != day:  # no customer that day: the numbers between its neighbours
            a, b = bounds(i - 1, i)
            if a <= b:
                yield day, a, b
        for k in sorted(range(max(0, i - 64), min(n, i + 64)), key=lambda k: abs(int(days[k]) - day)):
            if abs(int(days[k]) - day) > reach:
                break
            a, b = bounds(k - 1, k + 1)
            if b - a + 1 > int(self.count[k]):  # more numbers than that day's customers: one is free
                yield int(days[k]), a, b


@dataclass
class Planted:
    anchor_pos: int  # inserted after the selected row at this position
    row: dict
    shared_id: str | None = None


class CanaryPlanter:
    """Makes canaries for one export. ``ex`` is the export's working state
    (connection with tables src, sel, ids; types; filter; keys); ``unique``
    the number of unique canaries it will ask unique() for."""

    def __init__(self, ex, unique: int) -> None:
        self.ex = ex
        self.unique_wanted = unique
        self.con = ex.con
        self.free_codes: dict[str, int] = {}  # code column -> codes of its range no row holds (at least)
        self._stats: dict[tuple[str, bool], tuple[str, str, str, int] | None] = {}  # _code_stats, read once
        menus = self._menu_amounts([t.name for t in ex.types if t.kind is Kind.AMOUNT])
        self.columns = [Column(t.name, t.kind, self._code_range(t.name) if t.kind in (Kind.CUSTNO, Kind.ACCOUNT)
                               else None, menu=t.name in menus) for t in ex.types]
        self.kinds = {t.name: t.kind for t in ex.types}
        self.used: dict[Kind, set[str]] = {k: set() for k in IDENTIFIERS}
        self._normal: dict[tuple[Kind, str], str | None] = {}  # normalise() of values seen, memoised
        self._donors: dict[int, dict] = {}  # source rowid -> row, each read once
        self._rowid_at: dict[int, int] = {}  # selection position -> source rowid
        self.pool_key: Key | None = None  # set by pooled()
        # The same over the whole source: pooled canaries are the same people in every export of it.
        self.pool_columns = [replace(c, codes=None if c.codes is None else
                                     self._code_range(c.name, whole_source=True)) for c in self.columns]
        # Real customers' codes where a column's range is narrow enough to hold as bits: a canary
        # drawn within a densely numbered list must not land on them (it would be dropped).
        self.real_codes = [(c.codes, bits) for c in self.pool_columns if c.codes is not None
                           for bits in [self._code_bits(c.name, c.codes)] if bits is not None]
        self._real_ids: np.ndarray | None = None  # the source's ID numbers' first 16 digits, sorted (_real_id_heads)
        self._blocks: dict[str, dict[str, int]] = {}  # ID region -> police block -> real IDs (_read_blocks)
        self._stored_codes: dict[str, set[str]] = {}  # code column -> earlier canaries' codes (_held_codes)
        self.pool_gaps: list[int] = []  # the source's row gaps its pooled canaries may take (_plan_pool_gaps)
        # Canary rows whose codes _between_neighbours keeps, by id() (held here, so no id is reused).
        self._pinned: dict[int, dict] = {}
        self._pool_splits: list[np.ndarray | None] = []  # each pooled canary's place in its gap (_plan_pool_gaps)
        self._pool_gap_finder: _Gaps | None = None  # the source's gaps (_plan_pool_gaps)
        # An identifier numbered 1..n without a gap leaves a canary no number but the next
        # customer's: such a list gets no canaries (its marks still fingerprint it).
        self.no_free_code = next((c for c in ex.id_cols.values() if self.free_codes.get(c, 1) <= 0), None)

    # -- public ---------------------------------------------------------------

    def unique(self, want: int, today: date) -> list[Planted]:
        if self.no_free_code is not None:
            return []
        stream = Stream(self.ex.ekey, UNIQUE_STREAM)
        mates = Stream(self.ex.ekey, MATE_STREAM)
        # Where each canary goes: drawn apart from its donor (a canary right
        # below the row it was made from is a pair a leaker can look for).
        place = Stream(self.ex.ekey, PLACE_STREAM)
        out: list[Planted] = []
        attempts = 0
        while len(out) < want and attempts < want * 20 + 20:
            need = want - len(out)
            positions = [stream.below(self.ex.n_rows) for _ in range(need)]
            mate_positions = [mates.below(self.ex.n_rows) for _ in range(need * MATE_CHOICES)]
            rows = self._selected_rows(positions + mate_positions)
            self._read_blocks([rows[p] for p in positions])
            batch = []
            for i, pos in enumerate(positions):
                attempts += 1
                parents = self._parents(rows[pos], [rows[m] for m in mate_positions[i::need]])
                row = self._make(rows[pos], stream, today, parents=parents)
                if row is not None:
                    batch.append((pos, row))
            for _, row in self._drop_filtered(self._drop_colliding(batch)):
                if len(out) < want:
                    out.append(Planted(place.below(self.ex.n_rows), row))
        return out

    def pooled(self, master: Key, content_hash: str, source_rows: int, today: date) -> list[Planted]:
        """This export's share of the source's pool (deterministic per source)."""
        size = pool_size(source_rows)
        if size == 0 or self.no_free_code is not None:
            return []
        pool_key = self.pool_key = master.derive(f"canary-pool/v1/{content_hash}")
        self._plan_pool_gaps(size)  # kept free of unique canaries even where this export takes none
        coin = Stream(self.ex.ekey, "canary-share/v1")
        taken = [k for k in range(size) if coin.uniform() < SHARE_PROBABILITY]
        if not taken:
            return []
        pool_stream = Stream(pool_key, "pool-donors")
        donor_rows = [pool_stream.below(source_rows) for _ in range(size)]
        mate_rows = [[pool_stream.below(source_rows) for _ in range(MATE_CHOICES)] for _ in range(size)]
        # One scan of the source for the pool's donors and the unique canaries' first ones.
        first_unique = self._selected_rowids(self._first_unique_positions())
        self._fetch([donor_rows[k] for k in taken] + [m for k in taken for m in mate_rows[k]]
                    + list(first_unique.values()))
        self._read_blocks([self._donors[donor_rows[k]] for k in taken])
        batch = []
        for k in taken:
            # Each pooled canary has its own stream, so it is the same person in every export.
            donor = self._donors[donor_rows[k]]
            parents = self._parents(donor, [self._donors[m] for m in mate_rows[k]])
            row = self._make(donor, Stream(pool_key, f"pool/{k}"), today, track=False, parents=parents,
                             columns=self.pool_columns)
            if row is not None:
                batch.append((k, row))
        batch = self._pooled_where_every_column_has_room(batch)
        kept = self._drop_filtered(self._drop_colliding(batch, shared_prefix=content_hash[:16]))
        for _, row in kept:  # unique canaries made later must not reuse these identifiers
            self._track(row)
        place = Stream(self.ex.ekey, "canary-share-place/v1")
        return [Planted(place.below(self.ex.n_rows), row, f"{content_hash[:16]}:{k}") for k, row in kept]

    def in_sort_order(self, planted: list[Planted]) -> list[Planted]:
        """A list sorted by customer number (or account) stays sorted: each
        canary goes where its number sorts, not where its number would stand
        out among its neighbours' (a leaker scans for exactly that). Another
        code column also ascending (contract numbers issued in the same
        order) gets, where there is room, a code between its neighbours'."""
        if not planted or self.ex.n_rows < 2:
            return planted
        # Only the columns written: an order the recipient never sees gives nothing away.
        ascending = [(c, codes) for k in (Kind.CUSTNO, Kind.ACCOUNT) for c in self.columns
                     if c.kind is k and c.codes is not None and c.name in self.ex.out_cols
                     for codes in [self._ascending_codes(c.name)] if codes is not None]
        if not ascending:
            return planted
        col, codes = ascending[0]
        out = []
        for c in planted:
            v = c.row.get(col.name)
            if v is None or skeleton(v) != col.codes.skeleton:
                out.append(c)
                continue
            out.append(replace(c, anchor_pos=max(_first_not_below(codes, v) - 1, 0)))
        # Canaries after the same row are written in list order: theirs too.
        out.sort(key=lambda c: (c.anchor_pos, c.row.get(col.name) or ""))
        if len(ascending) > 1 and not self.ex.where:
            out = self._where_every_column_has_room(out, ascending)
        for other, its_codes in ascending[1:]:
            out = self._between_neighbours(out, col, other, its_codes)
            broken = sum(1 for c in out if not _between(c, other, its_codes))
            if broken:
                self.ex.notes.append(
                    f"{broken} canar{'y' if broken == 1 else 'ies'} break the ascending order of column "
                    f"{other.name!r} (it ascends with {col.name!r} and has too few free numbers between rows): "
                    f"a leaker who sorts by it could find them; --columns without {other.name!r} avoids that")
        return out

    def _where_every_column_has_room(self, planted: list[Planted], ascending) -> list[Planted]:
        """A list sorted by two code columns (member and contract numbers both
        ascending): a unique canary between rows whose codes in another
        ascending column leave no free code between them would break that
        column's order, which a leaker sorting by it sees at once (it flagged
        24 of 25 canaries in a list with a free contract number after one
        row in twenty). Such a canary moves to a gap between two rows where
        every ascending column has a code free of rows and of canaries (this
        export's and earlier ones'), drawn with the export's key, one canary
        a gap and never a gap the source's pooled canaries may take; its
        first column's code is drawn anew between that gap's neighbours. A
        pooled canary keeps its place (it is the same person in every
        export); where no gap has room, nothing moves."""
        first, first_codes = ascending[0]
        held = {c.name: self._held_codes(c, planted) for c, _ in ascending}
        room = _room(ascending, held)  # room[a]: between rows a and a + 1, in every column
        room[[c.anchor_pos for c in planted if c.anchor_pos < len(room)]] = False  # one canary a gap
        room[[a for a in self.pool_gaps if a < len(room)]] = False
        gaps = _Gaps(ascending, room)
        width = first.codes.skeleton.count("9")
        stream = Stream(self.ex.ekey, ROOM_STREAM)
        moves: dict[int, Planted] = {}
        for i, c in enumerate(planted):
            v = c.row.get(first.name)
            if (c.shared_id is not None or v is None or skeleton(v) != first.codes.skeleton
                    or all(_between(c, other, codes) for other, codes in ascending[1:])):
                continue
            pinned = self._like_a_real_row(c, gaps, stream, held)
            if pinned is not None:
                moves[i] = pinned
                continue
            # Else any gap with room, its first column's code anywhere in it (codes past
            # 18 digits are not counted: such a gap may have no free one).
            a = gaps.any(stream, lambda a: _digits(first_codes[a].as_py()) + 1 < _digits(first_codes[a + 1].as_py()))
            if a is None:
                break
            lo, hi = _digits(first_codes[a].as_py()) + 1, _digits(first_codes[a + 1].as_py()) - 1
            hi = min(hi, lo + MAX_DRAW - 1)
            for _ in range(20):  # a free code of the gap no canary holds (one exists)
                code = put_digits(v, str(lo + stream.below(hi - lo + 1)).zfill(width))
                if code not in held[first.name]:
                    held[first.name].add(code)
                    moves[i] = replace(c, anchor_pos=a, row={**c.row, first.name: code})
                    break
        if not moves:
            return planted
        # A real customer's code written another way (lower case, no leading zeros)
        # may still be the same identifier: checked as every canary's identifiers are.
        order = list(moves)
        kept = {id(row) for _, row in self._drop_colliding([(None, moves[i].row) for i in order])}
        out = [moves[i] if i in moves and id(moves[i].row) in kept else c for i, c in enumerate(planted)]
        out.sort(key=lambda c: (c.anchor_pos, c.row.get(first.name) or ""))
        return out

    def _like_a_real_row(self, c: Planted, gaps: "_Gaps", stream: Stream,
                         held: dict[str, set[str]]) -> Planted | None:
        """Canary ``c`` in a gap shaped like a real row's neighbourhood, its
        codes in every ascending column where that row's sit, or None where
        it has no code of each column's shape or no such gap is left. Its
        codes are pinned: _between_neighbours leaves them."""
        if not gaps.fit(c.row):
            return None
        for _ in range(5):
            got = gaps.like_a_real_row(stream)
            if got is None:
                return None
            row = gaps.codes_at(c.row, *got)
            if all(row[col.name] not in held[col.name] for col, _ in gaps.ascending):
                for col, _ in gaps.ascending:
                    held[col.name].add(row[col.name])
                self._pinned[id(row)] = row
                return replace(c, anchor_pos=got[0], row=row)
        return None

    def _held_codes(self, col: Column, planted: list[Planted]) -> set[str]:
        """Codes of ``col``'s shape that canaries hold: these and every
        earlier export's (their rows as written, within the column's range)."""
        if col.name not in self._stored_codes:
            path = "$." + json.dumps(col.name, ensure_ascii=False)
            rows = self.con.execute(
                "SELECT DISTINCT v FROM (SELECT json_extract_string(row_json, ?) AS v FROM store.canaries) "
                "WHERE v LIKE ? ESCAPE '\\'", [path, _like_pattern(col.codes.skeleton)]).fetchall()
            self._stored_codes[col.name] = {r[0] for r in rows}
        return self._stored_codes[col.name] | {v for c in planted for v in [c.row.get(col.name)]
                                               if v is not None and skeleton(v) == col.codes.skeleton}

    def _ascending_codes(self, name: str, *, in_source: bool = False):
        """The column's values in list order (or the source's) if they ascend
        (no nulls), else None."""
        def read(first_rows: bool):  # no str.format: a column name may hold braces
            if in_source:
                return (f"SELECT {qident(name)} AS v FROM src " + ("WHERE rowid < 1000 " if first_rows else "")
                        + "ORDER BY rowid")
            return (f"SELECT src.{qident(name)} AS v FROM sel JOIN src ON src.rowid = sel.__r "
                    + ("WHERE sel.__pos < 1000 " if first_rows else "") + "ORDER BY sel.__pos")

        if not _ascending(self.con.execute(read(True)).to_arrow_table().column(0)):
            return None  # most lists are not sorted: known from their first rows
        codes = self.con.execute(read(False)).to_arrow_table().column(0).combine_chunks()
        return codes if _ascending(codes) else None

    def _plan_pool_gaps(self, size: int) -> None:
        """In a source sorted by two code columns: the row gap each of its
        pooled canaries takes (``self.pool_gaps``, pooled canary k the k-th,
        distinct for distinct k: two never compete for one gap, whichever an
        export takes), shaped like a keyed real row's neighbourhood where one
        fits (``_Patterns``, the split kept in ``self._pool_splits``), else a
        keyed pick of the gaps with a free code in every ascending column.
        From the rows and the pool's key only, so the same in every export of
        the source; unique canaries keep off them."""
        ascending = [(c, codes) for kind in (Kind.CUSTNO, Kind.ACCOUNT) for c in self.pool_columns
                     if c.kind is kind and c.codes is not None
                     for codes in [self._ascending_codes(c.name, in_source=True)] if codes is not None]
        if len(ascending) < 2:
            return
        gaps = self._pool_gap_finder = _Gaps(ascending, _room(ascending, None))  # the rows' codes only
        order = Stream(self.pool_key, "pool-room")
        for _ in range(size):
            got = gaps.like_a_real_row(order, tries=30)
            if got is None:
                a = gaps.any(order)  # any gap with room not taken yet
                if a is None:
                    break
                got = (a, None)
            self.pool_gaps.append(got[0])
            self._pool_splits.append(got[1])

    def _pooled_where_every_column_has_room(self, batch: list[tuple[int, dict]]) -> list[tuple[int, dict]]:
        """_where_every_column_has_room for pooled canaries, in the source's
        order and with the pool's key, so that each is the same person in
        every export of the source: pooled canary k goes to the k-th of
        ``self.pool_gaps``, its codes where the planned real row's sit
        (pinned), else its first column's code drawn between that gap's rows."""
        if not self.pool_gaps:
            return batch
        gaps = self._pool_gap_finder
        first, first_codes = gaps.ascending[0]
        width = first.codes.skeleton.count("9")
        out = []
        for k, row in batch:
            v = row.get(first.name)
            if v is not None and skeleton(v) == first.codes.skeleton and k < len(self.pool_gaps):
                a, split = self.pool_gaps[k], self._pool_splits[k]
                if split is not None and gaps.fit(row):
                    row = gaps.codes_at(row, a, split)
                    self._pinned[id(row)] = row
                else:
                    lo, hi = _digits(first_codes[a].as_py()) + 1, _digits(first_codes[a + 1].as_py()) - 1
                    if lo <= hi:  # (codes past 18 digits are not counted: the gap may have none free)
                        pick = lo + Stream(self.pool_key, f"pool-room/{k}").below(min(hi - lo + 1, MAX_DRAW))
                        row = {**row, first.name: put_digits(v, str(pick).zfill(width))}
            out.append((k, row))
        return out

    def _between_neighbours(self, planted: list[Planted], first: Column, col: Column, codes) -> list[Planted]:
        """Each canary's code in ``col`` redrawn between the codes of the rows
        it is written between (past the last row: a few past it), the
        canaries after one row in ascending order, where there are free codes
        enough. A pooled canary is the same person in every export: its code
        is drawn once, between its neighbours in the whole source (a filtered
        list's neighbours lie outside those), with the pool's key; unique
        canaries fit around it. No code an earlier export's canary has."""
        width, n = col.codes.skeleton.count("9"), len(codes)
        fits = [i for i, c in enumerate(planted) if c.row.get(col.name) is not None
                and skeleton(c.row[col.name]) == col.codes.skeleton]
        fixed = self._pooled_between_neighbours(planted, first, col)
        pinned = {i for i in fits if id(planted[i].row) in self._pinned}  # placed like a real row already
        fixed.update({i: planted[i].row[col.name] for i in pinned})
        moved: dict[int, str] = {}
        # No two canaries share a code, an earlier export's included (held codes are passed over).
        held = self._held_codes(col, planted) | set(fixed.values())
        stream = Stream(self.ex.ekey, ORDER_STREAM)
        after: dict[int, list[int]] = {}  # anchor -> the canaries written after that row, in order
        for i in fits:
            after.setdefault(planted[i].anchor_pos, []).append(i)
        for a, group in after.items():
            below = codes[a].as_py()
            above = codes[a + 1].as_py() if a + 1 < n else None
            if any(x is not None and skeleton(x) != col.codes.skeleton for x in (below, above)):
                continue
            # Runs of unique canaries between fixed points: the rows' codes and the pooled canaries'.
            lo, run = _digits(below) + 1, []
            for i in group + [None]:
                pooled = i is not None and (planted[i].shared_id is not None or i in pinned)
                if i is not None and not pooled:
                    if self.ex.where:
                        continue  # rows left out of the list may hold any code between neighbours'
                    run.append(i)
                    continue
                if i is None:
                    hi = _digits(above) - 1 if above is not None else lo + 9 * len(run)
                else:
                    hi = _digits(fixed.get(i, planted[i].row[col.name])) - 1
                hi = min(hi, lo + MAX_DRAW - 1)  # a wider gap: its first 2**62 codes are room enough
                if run and hi - lo + 1 >= len(run) and len(str(hi)) <= width:
                    # Codes another canary holds (even one about to move) are passed over.
                    template, picks, tries = planted[run[0]].row[col.name], set(), 0
                    while len(picks) < len(run) and tries < 20 * len(run):
                        tries += 1
                        pick = lo + stream.below(hi - lo + 1)
                        if put_digits(template, str(pick).zfill(width)) not in held:
                            picks.add(pick)
                    if len(picks) == len(run):
                        for j, pick in zip(run, sorted(picks)):
                            new = put_digits(planted[j].row[col.name], str(pick).zfill(width))
                            held.add(new)
                            moved[j] = new
                if i is not None:
                    lo, run = max(lo, hi + 2), []
        stored = self._stored_canary_codes(col.name, list(moved.values()))
        moved = {i: v for i, v in moved.items() if v not in stored}
        moved.update(fixed)
        # A canary left with the code another was given (a pooled canary's is drawn the
        # same in every export, blind to this export's canaries): it goes.
        given = set(moved.values())
        return [replace(c, row={**c.row, col.name: moved[i]}) if i in moved and i not in pinned else c
                for i, c in enumerate(planted) if i in moved or c.row.get(col.name) not in given]

    def _pooled_between_neighbours(self, planted: list[Planted], first: Column, col: Column) -> dict[int, str]:
        """Pooled canaries' codes in ``col`` between their neighbours' in the
        source ordered by ``first`` (the same in every export of the source)."""
        pooled = [i for i, c in enumerate(planted) if c.shared_id is not None
                  and c.row.get(first.name) is not None and c.row.get(col.name) is not None
                  and skeleton(c.row[col.name]) == col.codes.skeleton]
        if not pooled or self.pool_key is None:
            return {}
        order = self._ascending_codes(first.name, in_source=True)
        codes = self._ascending_codes(col.name, in_source=True) if order is not None else None
        if codes is None:
            return {}
        width, n, out = col.codes.skeleton.count("9"), len(codes), {}
        for i in pooled:
            c = planted[i]
            if id(c.row) in self._pinned:  # placed like a real row already (_plan_pool_gaps)
                out[i] = c.row[col.name]
                continue
            a = max(_first_not_below(order, c.row[first.name]) - 1, 0)
            below, above = codes[a].as_py(), codes[a + 1].as_py() if a + 1 < n else None
            if any(x is not None and skeleton(x) != col.codes.skeleton for x in (below, above)):
                continue
            lo = _digits(below) + 1
            hi = min(_digits(above) - 1 if above is not None else lo + 9, lo + MAX_DRAW - 1)
            if lo <= hi:
                pick = lo + Stream(self.pool_key, f"pool-order/{c.shared_id}").below(hi - lo + 1)
                code = put_digits(c.row[col.name], str(pick).zfill(width))
                if code not in out.values():
                    out[i] = code
        return out

    def _stored_canary_codes(self, name: str, values: list[str]) -> set[str]:
        """Those of ``values`` that an earlier export's canary already has in
        a column of this name (its row as written: a second code column has
        no identity digest to compare)."""
        if not values:
            return set()
        insert_rows(self.con, "canary_check", ["v"], [(v,) for v in values], [pa.string()])
        path = "$." + json.dumps(name, ensure_ascii=False)
        hits = self.con.execute("SELECT c.v FROM canary_check c JOIN (SELECT json_extract_string(row_json, ?) AS v "
                                "FROM store.canaries) k USING (v)", [path]).fetchall()
        return {h[0] for h in hits}

    # -- helpers --------------------------------------------------------------

    def _menu_amounts(self, names: list[str]) -> set[str]:
        """Amount columns whose values are a short menu of small numbers (a
        rate, a fee ratio): at most MENU_VALUES distinct, each held by MENU_ROWS
        rows on average, none 100 or more. Over the whole source, so pooled
        canaries are the same in every export of it."""
        if not names:
            return set()
        # How many values first (a hash sketch, 0.04 s a million); the menu's values parsed only where few.
        row = self.con.execute("SELECT " + ", ".join(f"approx_count_distinct(src.{qident(n)}), count(src.{qident(n)})"
                                                     for n in names) + " FROM src").fetchone()
        out = set()
        for i, name in enumerate(names):
            distinct, count = row[2 * i], row[2 * i + 1]
            if not count or distinct > MENU_VALUES or count < MENU_ROWS * distinct:
                continue
            top = self.con.execute(f"SELECT max(abs(TRY_CAST({markplan.amount_clean_sql('v')} AS DOUBLE))) "
                                   f"FROM (SELECT DISTINCT src.{qident(name)} AS v FROM src)").fetchone()[0]
            if top is not None and top < 100:
                out.add(name)
        return out

    def _code_range(self, name: str, *, whole_source: bool = False) -> CodeRange | None:
        """The range of the column's codes of its commonest shape in this
        export's rows (or the whole source's: pooled canaries are the same
        people in every export of it), for canary codes to fall within (two
        short scans of one column). Never past the last code: the next
        numbers go to the next customers, whose rows would then match the
        canaries. How many codes of the range are free is kept in
        ``self.free_codes``."""
        stats = self._code_stats(name, whole_source or not self.ex.where)
        if stats is None:
            return None
        skel, low, high, count = stats
        width = skel.count("9")
        lo, hi = _digits(low), _digits(high)
        free = hi - lo + 1 - count
        if free <= 0 and name not in self.ex.id_cols.values():
            # Not an identifier (a contract number beside the customer number): nothing links
            # on it, so codes just past the last harm no attribution where none is free within.
            room = 4 * (pool_size(self.ex.info.rows) + (0 if whole_source else self.unique_wanted))
            lo, hi, free = hi + 1, hi + max(room, 1), 1  # the whole source's: the same in every export of it
            if len(str(hi)) > width:
                return None
        self.free_codes[name] = min(self.free_codes.get(name, free), free)
        return CodeRange(skel, str(lo).zfill(width), str(hi).zfill(width))

    def _code_stats(self, name: str, every_row: bool) -> tuple[str, str, str, int] | None:
        """(shape, least, greatest, how many) of the column's codes of its
        commonest shape, over every source row or this export's; each read
        once (an export of every row asks for both)."""
        if (name, every_row) not in self._stats:
            col = qident(name)
            shapes = self.con.execute(
                f"SELECT regexp_replace(v, '[0-9]', '9', 'g') AS sk FROM (SELECT {col} AS v FROM src "
                f"USING SAMPLE reservoir(2000 ROWS) REPEATABLE (11)) WHERE v IS NOT NULL "
                "GROUP BY sk ORDER BY count(*) DESC, sk LIMIT 1").fetchall()
            found = None
            if shapes and "9" in shapes[0][0]:
                skel = shapes[0][0]
                selected = "" if every_row else " WHERE rowid IN (SELECT __r FROM sel)"
                low, high, count = self.con.execute(
                    f"SELECT min(v), max(v), count(*) FROM (SELECT {col} AS v FROM src{selected}) "
                    "WHERE v LIKE ? ESCAPE '\\'", [_like_pattern(skel)]).fetchone()
                # A look-alike (a letter where the shape has a digit) sorted to an end: no range.
                if count and skeleton(low) == skel and skeleton(high) == skel:
                    found = skel, low, high, count
            self._stats[name, every_row] = found
        return self._stats[name, every_row]

    def _code_bits(self, name: str, codes: CodeRange) -> np.ndarray | None:
        """Which codes of ``codes``' range a row of the source holds (a
        boolean per code from ``low``), for a range of at most CODE_BITS
        codes whose digits are one run (VIP000123, HT2024000123); else None:
        a wider range is sparse enough that a draw seldom hits a customer."""
        skel, lo, hi = codes.skeleton, int(codes.low), int(codes.high)
        if not _one_run(skel) or hi - lo + 1 > CODE_BITS:
            return None
        first, last = skel.index("9"), skel.rindex("9")
        got = self.con.execute(
            f"SELECT TRY_CAST(substr(v, {first + 1}, {last - first + 1}) AS BIGINT) - {lo} AS at "
            f"FROM (SELECT {qident(name)} AS v FROM src) WHERE v LIKE ? ESCAPE '\\'",
            [_like_pattern(skel)]).to_arrow_table().column(0)
        at = pc.drop_null(got).to_numpy()
        at = at[(at >= 0) & (at <= hi - lo)]
        bits = np.zeros(hi - lo + 1, bool)
        bits[at] = True
        return bits

    def _normalised(self, kind: Kind, value: str | None) -> str | None:
        """normalise(kind, value), computed once per value: synthesis asks about
        each identifier it draws, then tracking and the collision check again."""
        if value is None:
            return None
        try:
            return self._normal[kind, value]
        except KeyError:
            n = self._normal[kind, value] = normalise(kind, value)
            return n

    def _make(self, donor: dict, stream: Stream, today: date, track: bool = True,
              parents: Parents | None = None, columns: list[Column] | None = None) -> dict | None:
        used = self.used
        normalised = self._normalised

        real = self.real_codes

        def taken(kind: Kind, value: str) -> bool:
            n = normalised(kind, value) if kind in KIND_CODES else value
            if n is None or n in used[kind]:
                return True
            for codes, bits in real:  # few columns: a customer number, an account
                if skeleton(value) == codes.skeleton:
                    at = _digits(value) - int(codes.low)
                    if 0 <= at < len(bits) and bits[at]:
                        return True
            return False

        try:
            row = synthesize(columns or self.columns, donor, stream, today=today, taken=taken,
                             mate=parents.mate if parents else None, lender=parents.lender if parents else None,
                             timeline=parents.timeline if parents else None, blocks=self._blocks_beside(donor))
        except RuntimeError:
            return None
        if not self._number_by_date(row, stream, taken, columns or self.columns, today):
            return None
        cells = {self.kinds[c]: v for c, v in row.items() if v is not None and self.kinds[c] is not Kind.OTHER}
        if validators.row_problems(cells, today=today):
            return None
        if track:
            self._track(row)
        return row

    def _number_by_date(self, row: dict, stream: Stream, taken, columns: list[Column], today: date) -> bool:
        """A customer number of a list numbered as customers came (the numbers
        rise with a date column) is drawn among the numbers of the canary's
        own date, its dates all moved by the same few days where that day has
        no free number: one drawn anywhere in the range sat among customers
        of other years (a review flagged 97-99% of canaries by it). A move
        keeps every date on its side of today, and a loan's contract never
        moves here (its balance is the schedule's at its own grant). False
        where no day within reach has a free number: the canary is not made."""
        dates = [c.name for c in columns if c.kind is Kind.DATE]
        movable = functools.cache(lambda: _may_shift(row, dates, columns, today))  # only where a day must move
        for col in columns:
            dated = self._dated_codes.get(col.name)
            v = row.get(col.name)
            if dated is None or not v or skeleton(v) != col.codes.skeleton:
                continue
            day = _day(row.get(dated.date_col) or "")
            if day is None:
                continue
            width = col.codes.skeleton.count("9")
            slots = (s for s in dated.slots(day, int(col.codes.low), int(col.codes.high))
                     if s[0] == day or movable()(s[0] - day))
            for new_day, lo, hi in itertools.islice(slots, 12):
                hi = min(hi, lo + MAX_DRAW - 1)
                # Every number of a small slot from a drawn one on (another canary may hold
                # the free ones), thirty drawn from a wide one.
                size, start = hi - lo + 1, stream.below(hi - lo + 1)
                codes = ((lo + (start + j) % size for j in range(size)) if size <= 30
                         else (lo + stream.below(size) for _ in range(30)))
                code = next((c for n in codes if not taken(Kind.CUSTNO, c := put_digits(v, str(n).zfill(width)))),
                            None)
                if code is not None:
                    row[col.name] = code
                    if new_day != day:
                        _shift_dates(row, dates, new_day - day)
                    break
            else:
                return False  # a number drawn anywhere sat among other years' customers (57% where gaps are few)
        return True

    @functools.cached_property
    def _dated_codes(self) -> dict[str, DatedCodes]:
        """Customer-number columns (one run of digits) whose numbers rise with
        a date column's days over a sample of the source (rank correlation at
        least FOLLOWS_DATES), with that column's numbers by day."""
        codes = [c for c in self.pool_columns if c.kind is Kind.CUSTNO and c.codes is not None
                 and _one_run(c.codes.skeleton)]
        dates = [t.name for t in self.ex.types if t.kind is Kind.DATE]
        if not codes or not dates:
            return {}
        def day_sql(col: str) -> str:  # a date cell's day as _day counts it
            return f"date_diff('day', DATE '0001-01-01', try_strptime({qident(col)}, {DATE_FORMATS})::DATE)"

        out = {}
        for c in codes:
            first, last = c.codes.skeleton.index("9"), c.codes.skeleton.rindex("9")
            number = (f"TRY_CAST(substr({qident(c.name)}, {first + 1}, {last - first + 1}) AS BIGINT)")
            days = ", ".join(f"{day_sql(d)} AS d{i}" for i, d in enumerate(dates))
            t = self.con.execute(
                f"SELECT {number} AS n, {days} FROM (SELECT {', '.join(qident(n) for n in [c.name, *dates])} "
                f"FROM src USING SAMPLE reservoir({FOLLOW_SAMPLE} ROWS) REPEATABLE (13)) "
                f"WHERE {qident(c.name)} LIKE ? ESCAPE '\\'",
                [_like_pattern(c.codes.skeleton)]).fetchnumpy()
            best, at = max((_rank_correlation(t["n"], t[f"d{i}"]), i) for i in range(len(dates)))
            if best < FOLLOWS_DATES:
                continue
            by_day = self.con.execute(
                f"SELECT day, min(n), max(n), count(*) FROM (SELECT {number} AS n, {day_sql(dates[at])} AS day FROM src "
                f"WHERE {qident(c.name)} LIKE ? ESCAPE '\\') WHERE n IS NOT NULL AND day IS NOT NULL "
                "GROUP BY day ORDER BY day", [_like_pattern(c.codes.skeleton)]).fetchnumpy()
            out[c.name] = DatedCodes(dates[at], *(np.asarray(by_day[k], np.int64) for k in list(by_day)))
        return out

    def _track(self, row: dict) -> None:
        """The row's identifiers, every column of an identifier kind (a contract
        number beside the customer number too): no two canaries share one."""
        for col in self.columns:
            if col.kind in IDENTIFIERS:
                n = self._normalised(col.kind, row.get(col.name))
                if n:
                    self.used[col.kind].add(n)

    # Donors. Reading rows by rowid scans the source between the smallest and
    # the largest rowid asked for, every column (DuckDB prunes a rowid join to
    # that range, no finer): rows spread over the source cost a whole scan,
    # about 0.1 s at a million rows, for ten rows as for a thousand. So each
    # row is read once, and the pool's donors and the unique canaries' first
    # donors in one scan.

    def _first_unique_positions(self) -> list[int]:
        """The positions unique() draws first: the first draws of its donor and
        mate streams, one each per canary the export asks for."""
        want = max(0, self.unique_wanted)
        stream, mates = Stream(self.ex.ekey, UNIQUE_STREAM), Stream(self.ex.ekey, MATE_STREAM)
        return ([stream.below(self.ex.n_rows) for _ in range(want)]
                + [mates.below(self.ex.n_rows) for _ in range(want * MATE_CHOICES)])

    def _parents(self, donor: dict, drawn: list[dict]) -> Parents:
        """Which of the rows drawn for a canary lend what: the amounts the first
        drawn in the donor's tier (else the first drawn: the donor's balance,
        moved, is used), the dates the next in that tier (else the one after
        the next), the surname the one after the lender. One row lending all
        of it made the canary its twin, and the donor keeping its own dates
        and phone prefix made the donor its twin."""
        tiers = [c.name for c in self.columns if c.kind is Kind.TIER]
        tier = [(donor.get(t) or "").strip() for t in tiers]
        same = [i for i, m in enumerate(drawn) if [(m.get(t) or "").strip() for t in tiers] == tier]
        at = same[0] if same else 0
        n = len(drawn)
        timeline = next((i for i in same[1:] if i != (at + 1) % n), (at + 2) % n)
        return Parents(mate=drawn[(at + 1) % n], lender=drawn[at], timeline=drawn[timeline])

    # Police blocks. A canary's ID number keeps its donor's region; digits 15-16
    # (the block) come from the region's other rows, drawn as often as they hold
    # each: the donor's own beside its street and birth year paired the two.

    def _id_column(self) -> str | None:
        return self.ex.id_cols.get(Kind.IDNO)

    def _read_blocks(self, donors: list[dict]) -> None:
        """The blocks of the donors' regions, over the whole source (pooled
        canaries are the same people in every export of it), read once."""
        col = self._id_column()
        if col is None:
            return
        regions = {n[:6] for d in donors if (n := self._normalised(Kind.IDNO, d.get(col)))} - self._blocks.keys()
        if not regions:
            return
        heads = self._real_id_heads()
        for r in sorted(regions):
            # A region's IDs are one run of the sorted heads; a block is a head's last two digits.
            lo, hi = np.searchsorted(heads, [int(r) * 10 ** 10, (int(r) + 1) * 10 ** 10])
            blocks, counts = np.unique(heads[lo:hi] % 100, return_counts=True)
            self._blocks[r] = {f"{b:02d}": int(n) for b, n in zip(blocks.tolist(), counts.tolist())}

    def _blocks_beside(self, donor: dict) -> list[tuple[str, int]] | None:
        """The blocks of the donor's region but for the donor's own ID; None
        where the region has no other row (synthesize keeps the donor's)."""
        col = self._id_column()
        n = self._normalised(Kind.IDNO, donor.get(col)) if col else None
        if not n or n[:6] not in self._blocks:
            return None
        counts = dict(self._blocks[n[:6]])
        if n[14:16] in counts:
            counts[n[14:16]] -= 1
        return [(b, c) for b, c in sorted(counts.items()) if c > 0] or None

    def _selected_rowids(self, positions: list[int]) -> dict[int, int]:
        """Source rowids of selection positions (one narrow read of ``sel``)."""
        ex = self.ex
        if not ex.where and getattr(ex, "last_rowid", None) == ex.n_rows - 1:
            # Every row selected, and the rowids are 0..n-1 (n distinct ones
            # up to n-1): position p is rowid p, nothing to read.
            return {p: p for p in positions}
        need = sorted({int(p) for p in positions} - self._rowid_at.keys())
        if need:
            insert_rows(self.con, "canary_keys", ["k"], [(p,) for p in need], [pa.int64()])
            self._rowid_at.update(self.con.execute(
                "SELECT sel.__pos, sel.__r FROM canary_keys k JOIN sel ON sel.__pos = k.k").fetchall())
        return {p: self._rowid_at[p] for p in positions}

    def _fetch(self, rowids: list[int]) -> None:
        """Read the source rows with these rowids that have not been read yet."""
        need = sorted({int(r) for r in rowids} - self._donors.keys())
        if not need:
            return
        cols = self.ex.info.columns
        src_cols = ", ".join("src." + qident(c) for c in cols)
        insert_rows(self.con, "canary_keys", ["k"], [(r,) for r in need], [pa.int64()])
        for r in self.con.execute(f"SELECT src.rowid, {src_cols} FROM canary_keys k JOIN src ON src.rowid = k.k"
                                  ).fetchall():
            self._donors[r[0]] = dict(zip(cols, r[1:]))

    def _selected_rows(self, positions: list[int]) -> dict[int, dict]:
        """The selected rows at these positions: position -> row."""
        rowids = self._selected_rowids(positions)
        self._fetch(list(rowids.values()))
        return {p: self._donors[r] for p, r in rowids.items()}

    def _drop_colliding(self, batch, shared_prefix: str | None = None):
        """No canary may share an identifier with a real customer or another
        canary (a pooled canary may of course match its own earlier copies)."""
        ex = self.ex
        if not batch or not ex.id_cols:
            return batch
        checks = []
        for i, (_, row) in enumerate(batch):
            for kind, col in ex.id_cols.items():
                n = self._normalised(kind, row.get(col))
                if n:
                    checks.append((i, KIND_CODES[kind], ex.ikey.digest64(identity_label(kind), n)))
        if not checks:
            return batch
        insert_rows(self.con, "canary_check", ["i", "kind", "digest"], checks,
                    [pa.int32(), pa.uint8(), pa.uint64()])
        own = (f"AND coalesce(k.shared_id, '') NOT LIKE '{shared_prefix}:%'" if shared_prefix else "")
        # Equality joins only (hash joins): one OR of five columns per stored
        # canary would be a nested loop that grows with every export recorded.
        stored = " UNION ALL ".join(f"SELECT {c}_digest AS digest, shared_id FROM store.canaries "
                                    f"WHERE {c}_digest IS NOT NULL"
                                    for c in ("idno", "phone", "email", "custno", "account"))
        bad = {r[0] for r in self.con.execute(f"""
            SELECT c.i FROM canary_check c JOIN {ex.source_digests()} s ON s.kind = c.kind AND s.digest = c.digest
            UNION
            SELECT c.i FROM canary_check c JOIN ({stored}) k ON k.digest = c.digest {own}
        """).fetchall()}
        bad |= self._real_id_prefixes(batch)
        # Two of the batch sharing an identifier (pooled canaries are drawn apart,
        # each from its own stream): the later one goes.
        seen: set[tuple[Kind, str]] = set()
        for i, (_, row) in enumerate(batch):
            ids = {(c.kind, n) for c in self.columns if c.kind in IDENTIFIERS
                   for n in [self._normalised(c.kind, row.get(c.name))] if n}
            if ids & seen:
                bad.add(i)
            elif i not in bad:
                seen |= ids
        return [b for i, b in enumerate(batch) if i not in bad]

    def _real_id_prefixes(self, batch) -> set[int]:
        """Canaries whose ID number starts with a real customer's first 15
        characters (region, birthdate, station block: only the sex digit and
        the check digit differ). The store keeps canaries whole, so such a
        canary would keep most of a real customer's ID number there, and a
        spreadsheet that cut both to 15 digits would make them one."""
        col = self._id_column()
        prefixes = [(i, int(n[:15])) for i, (_, row) in enumerate(batch)
                    if col and (n := self._normalised(Kind.IDNO, row.get(col)))]
        if not prefixes:
            return set()
        heads = self._real_id_heads()
        starts = np.array([p for _, p in prefixes], dtype=np.int64) * 10  # a prefix's heads: p0 .. p9
        lo, hi = np.searchsorted(heads, starts), np.searchsorted(heads, starts + 10)
        return {i for (i, _), a, b in zip(prefixes, lo.tolist(), hi.tolist()) if b > a}

    def _real_id_heads(self) -> np.ndarray:
        """The first 16 digits of every real ID number as integers, sorted
        (region, birthdate and police block; read once per export, a scan of
        the whole source, only where the export has an ID column): a region
        and a 15-digit prefix are each one run of it, found by bisection."""
        if self._real_ids is None:
            ids = sql_normalise(Kind.IDNO, "src." + qident(self._id_column()))
            heads = self.con.execute(f"SELECT CAST(left(n, 16) AS BIGINT) AS h FROM (SELECT {ids} AS n FROM src) "
                                     "WHERE n IS NOT NULL").fetchnumpy()["h"]
            self._real_ids = np.sort(np.asarray(heads, dtype=np.int64))
        return self._real_ids

    def _drop_filtered(self, batch):
        """A canary must satisfy the export's own filter, like every real row."""
        ok = passing_filter(self.ex, [(i, row) for i, (_, row) in enumerate(batch)])
        return [b for i, b in enumerate(batch) if i in ok]


def _shift_dates(row: dict, names: list[str], days: int) -> None:
    """Every date of ``row``'s columns ``names`` moved by ``days``, each in its
    own format (a loan's term kept); placeholders (9999-12-31) stay."""
    for name in names:
        if got := event_date(row.get(name)):
            row[name] = (got[0] + timedelta(days=days)).strftime(got[1])


def _may_shift(row: dict, dates: list[str], columns: list[Column], today: date):
    """Whether moving all of ``row``'s dates by a number of days keeps each on
    its side of today (a last transaction is never ahead of today, a
    maturity never behind it); never where the row holds a loan's contract,
    whose balance follows its grant."""
    events = {name: got[0] for name in dates if (got := event_date(row.get(name)))}
    days = list(events.values())
    numbers = [c.name for c in columns if c.kind in (Kind.AMOUNT, Kind.OTHER)]
    if len(events) >= 2 and contract.find(row, events, numbers, today) is not None:
        return lambda shift: False
    recent = any(timedelta(0) <= today - d <= RECENT for d in days)  # moves only nearer (canary.synth)
    return lambda shift: (shift > 0 or not recent) and all((d + timedelta(days=shift) <= today) == (d <= today)
                                                           for d in days)


def _one_run(skel: str) -> bool:
    """A code shape whose digits are one run (VIP000123, not 12-345)."""
    first, last = skel.find("9"), skel.rfind("9")
    return first >= 0 and skel[first:last + 1] == "9" * (last - first + 1) and last - first <= 17


def _day(text: str) -> int | None:
    """A date cell's day as date_diff('day', 0001-01-01, ...) counts it."""
    d = parse_date(text)
    return None if d is None else d.toordinal() - 1


def _rank_correlation(x, y) -> float:
    """Rank correlation of two columns over the rows where both are known
    (ties share a rank: a day's many customers); 0 with fewer than 50 such
    rows."""
    x, y = (np.ma.filled(np.ma.asarray(v, float), np.nan) for v in (x, y))
    both = ~(np.isnan(x) | np.isnan(y))
    if both.sum() < 50:
        return 0.0
    rx, ry = (np.unique(v[both], return_inverse=True)[1] for v in (x, y))
    if rx.max() == 0 or ry.max() == 0:  # a column of one value: no order to follow
        return 0.0
    r = np.corrcoef(rx, ry)[0, 1]
    return 0.0 if np.isnan(r) else float(r)


def _first_not_below(codes, value: str) -> int:
    """Index of the first of the ascending ``codes`` not below ``value``."""
    lo, hi = 0, len(codes)
    while lo < hi:
        mid = (lo + hi) // 2
        if codes[mid].as_py() < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _digits(code: str) -> int:
    return int(digit_string(code))


def _code_numbers(codes, skel: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(numbers, shaped) of ascending codes: each row's digits as a number
    (a row of another shape than ``skel`` takes the number before it), and
    which rows have the shape; None where the codes are too long for 64 bits."""
    if skel.count("9") > 18:
        return None
    codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    shaped = pc.equal(pc.replace_substring_regex(codes, r"\d", "9"), skel).to_numpy(zero_copy_only=False)
    digits = pc.replace_substring_regex(codes, r"\D", "")
    return np.maximum.accumulate(pc.if_else(pa.array(shaped), digits, "0").cast(pa.int64()).to_numpy()), shaped


def _free_between(codes, skel: str, held: set[str]) -> np.ndarray | None:
    """For ascending codes of the shape ``skel``: how many codes of that
    shape lie strictly between each row's code and the next row's that no
    row and none of ``held`` has (0 where either row's code has another
    shape); None where the codes are too long to count in 64 bits."""
    got = _code_numbers(codes, skel)
    if got is None:
        return None
    numbers, shaped = got
    free = np.maximum(np.diff(numbers) - 1, 0)
    free[~(shaped[1:] & shaped[:-1])] = 0
    taken = np.array(sorted(_digits(v) for v in held if skeleton(v) == skel), np.int64)
    gap = np.searchsorted(numbers, taken, side="right") - 1  # the gap each held code falls in
    inside = (gap >= 0) & (gap < len(free))
    inside[inside] &= numbers[gap[inside]] != taken[inside]  # a row's own code is no free one
    np.subtract.at(free, gap[inside], 1)
    return np.maximum(free, 0)


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], np.uint64)


def _mix(diffs: np.ndarray) -> np.ndarray:
    """One 64-bit bucket key per row of small integer tuples (not secret: a
    lookup, every match is checked)."""
    out = np.zeros(len(diffs), np.uint64)
    with np.errstate(over="ignore"):
        for j in range(diffs.shape[1]):
            out = (out ^ diffs[:, j].astype(np.uint64)) * _MIX[j % len(_MIX)]
    return out


class _Patterns:
    """Where a canary can sit in a list sorted by several code columns so
    that, in every one of them, its distances to the rows before and after
    are those of a real row (a keyed pick of one): the gap it fills is as
    wide as that row's two neighbours are apart, and it sits in it where
    that row sits between them. A canary filling a one-number gap, or cutting
    a wide gap anywhere, would otherwise show a local pattern real rows
    rarely have (a review measured both). Only gaps in ``room``; each once."""

    def __init__(self, numbers: list[np.ndarray], shaped: list[np.ndarray], room: np.ndarray):
        diffs = np.stack([np.diff(x) for x in numbers], axis=1)
        spots = np.flatnonzero(room)
        keys = _mix(diffs[spots])
        order = np.argsort(keys, kind="stable")
        self.spots, self.keys, self.diffs = spots[order], keys[order], diffs[spots[order]]
        spans = np.stack([x[2:] - x[:-2] for x in numbers], axis=1)  # rows 1 .. n-2
        splits = np.stack([x[1:-1] - x[:-2] for x in numbers], axis=1)
        whole = np.logical_and.reduce([s[2:] & s[1:-1] & s[:-2] for s in shaped])
        ok = whole & (splits >= 1).all(axis=1) & (spans - splits >= 1).all(axis=1)
        self.spans, self.splits = spans[ok], splits[ok]
        self.donor_keys = _mix(self.spans)
        self.used: set[int] = set()

    def place(self, stream: Stream, tries: int = 200) -> tuple[int, np.ndarray] | None:
        """(gap, each column's distance from the row before) or None."""
        if not len(self.spans) or not len(self.spots):
            return None
        for _ in range(tries):
            d = stream.below(len(self.spans))
            lo, hi = (int(np.searchsorted(self.keys, self.donor_keys[d], side=side)) for side in ("left", "right"))
            if hi == lo:
                continue
            k = lo + stream.below(hi - lo)
            a = int(self.spots[k])
            if a not in self.used and np.array_equal(self.diffs[k], self.spans[d]):
                self.used.add(a)
                return a, self.splits[d]
        return None


def _room(ascending, held: dict[str, set[str]] | None) -> np.ndarray:
    """Per gap between two rows of a list sorted by the ``ascending`` code
    columns: whether every one has a code there that no row (and none of
    ``held``, by column) has; a column too long to count is not judged."""
    room = np.ones(len(ascending[0][1]) - 1, bool)
    for c, codes in ascending:
        free = _free_between(codes, c.codes.skeleton, held[c.name] if held else set())
        if free is not None:
            room &= free >= 1
    return room


class _Gaps:
    """The gaps with ``room`` of a list sorted by the ``ascending`` code
    columns, each taken once: one shaped like a real row's neighbourhood
    (_Patterns, where every column can be counted), or any."""

    def __init__(self, ascending, room: np.ndarray):
        self.ascending = ascending
        self.numbers = [_code_numbers(codes, c.codes.skeleton) for c, codes in ascending]
        self.patterns = (_Patterns([x for x, _ in self.numbers], [s for _, s in self.numbers], room)
                         if all(x is not None for x in self.numbers) else None)
        self.used: set[int] = self.patterns.used if self.patterns is not None else set()
        self._spots, self._left = np.flatnonzero(room), int(room.sum())

    def like_a_real_row(self, stream: Stream, tries: int = 200) -> tuple[int, np.ndarray] | None:
        """(gap, each column's distance from the row before) or None."""
        return self.patterns.place(stream, tries) if self.patterns is not None else None

    def any(self, stream: Stream, fits=None) -> int | None:
        """A gap not taken yet (that ``fits``, if given), drawn from ``stream``."""
        while self._left:
            k = stream.below(self._left)
            a = int(self._spots[k])
            self._spots[k], self._left = self._spots[self._left - 1], self._left - 1  # each gap once
            if a not in self.used and (fits is None or fits(a)):
                self.used.add(a)
                return a
        return None

    def fit(self, row: dict) -> bool:
        """Whether ``row`` has a code of each column's shape (to be placed)."""
        return all(row.get(c.name) is not None and skeleton(row[c.name]) == c.codes.skeleton
                   for c, _ in self.ascending)

    def codes_at(self, row: dict, a: int, split: np.ndarray) -> dict:
        """A copy of ``row`` with its code in every column ``split`` past the
        code of the row before gap ``a``."""
        row = dict(row)
        for (c, _), (x, _), d in zip(self.ascending, self.numbers, split):
            row[c.name] = put_digits(row[c.name], str(int(x[a] + d)).zfill(c.codes.skeleton.count("9")))
        return row


def _between(c: Planted, col: Column, codes) -> bool:
    """Whether canary ``c``'s code in ``col`` sorts strictly between its
    neighbours' (a code of another shape, or none, is not judged)."""
    v = c.row.get(col.name)
    if v is None or skeleton(v) != col.codes.skeleton:
        return True
    below = codes[c.anchor_pos].as_py()
    above = codes[c.anchor_pos + 1].as_py() if c.anchor_pos + 1 < len(codes) else None
    return below < v and (above is None or v < above)


def _like_pattern(skel: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching codes of this shape: any character where it has a 9."""
    return "".join("_" if ch == "9" else ("\\" + ch if ch in "_%\\" else ch) for ch in skel)


def _ascending(values) -> bool:
    """No nulls, each value at least the one before."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count or len(values) < 2:
        return False
    return pc.all(pc.greater_equal(values.slice(1), values.slice(0, len(values) - 1))).as_py()


def passing_filter(ex, rows: list[tuple[int, dict]]) -> set[int]:
    """Which of the numbered canary rows satisfy the export's --where (all without one)."""
    if not ex.where or not rows:
        return {i for i, _ in rows}
    load_rows(ex.con, ex.info.columns, "canary_try", rows)
    sql = where_flag(ex.where, ex.types, ex.numeric, "canary_try", "__c")
    return {r[0] for r in ex.con.execute(f"SELECT __c FROM ({sql}) WHERE __ok").fetchall()}


def load_rows(con, columns: list[str], table: str, rows: list[tuple[int, dict]]) -> None:
    """A temp table of text rows keyed by __c (canaries, for filters and marking)."""
    insert_rows(con, table, ["__c", *columns], [[i] + [row.get(c) for c in columns] for i, row in rows],
                [pa.int32()] + [pa.string()] * len(columns))
