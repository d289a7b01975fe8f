"""Marks that keep a loan's contract adding up, over whole Arrow columns.

Why: each marked column used to move on its own, so a grant date moved
without its maturity and a principal without its payment and balance (on a
loan book half the rows lost maturity = grant + term, 69% the annuity to
the cent). A leaker who recomputes contracts then sees which cells carry
marks and can put them back. So where an export's rows hold a contract
(canary.contract finds it from a row's own values), only its free values
carry marks (the grant date and the principal); the maturity, payment and
balance are recomputed from them the way the row had them, on every row
whose relation held before marking, and are never mark channels
themselves (a recomputed cell is a function of the free ones, not a keyed
coin flip). A grant whose mark would change the payments due by the day of
the export (and so the balance by a whole payment, and a maturity's side of
today) takes the lattice point on the other side of it instead: the same
residue, so the same bit, within the same +-q days.

NumPy and pyarrow.compute; values whose rounding to the cent sits within
float noise of a tie (or is negative) are computed by canary.contract's
scalar functions, so the text written is exactly what canary.contract
(and a leaker's Python) computes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from canary import contract
from canary.synth import event_date

from . import markwrite
from .markplan import MarkColumn

_PLAIN = "^-?[0-9]+(?:[.][0-9]+)?$"  # canary.contract._PLAIN, after strip()
_RULES = ("closed", "exact", "monthly")  # canary.contract's balance rules, in its order
_DATE = MarkColumn("date", "date", 0, 2)  # parses and writes dates only (markwrite)
MIN_SHARE = 0.05  # a structure found on fewer of the sampled rows is not the list's contract


def recognise(rows: list[Mapping[str, str | None]], dates: list[str], numbers: list[str],
              today: date) -> contract.Contract | None:
    """The contract most sampled rows hold (by canary.contract.find), with
    every balance rule one of them follows, or None. ``dates``: columns that
    may hold the grant and maturity; ``numbers``: those that may hold a
    term, a rate or an amount."""
    found: Counter = Counter()
    rules: dict = defaultdict(set)
    for row in rows:
        events = {n: got[0] for n in dates if (got := event_date(row.get(n)))}
        if len(events) < 2:
            continue
        deal = contract.find(row, events, numbers, today)
        if deal is not None:
            shape = replace(deal, rules=(), paid=None)
            found[shape] += 1
            rules[shape].update(deal.rules)
    if not found:
        return None
    deal, n = found.most_common(1)[0]
    if n < max(3, MIN_SHARE * len(rows)):
        return None
    return replace(deal, rules=tuple(r for r in _RULES if r in rules[deal]))


def bound_columns(deal: contract.Contract) -> list[str]:
    """Columns a mark must not move on its own: the recomputed ones and the
    terms they are recomputed from."""
    return [c for c in (deal.end, deal.term, deal.rate, deal.payment, deal.balance) if c is not None]


def input_columns(deal: contract.Contract) -> list[str]:
    return [c for c in (deal.start, deal.end, deal.term, deal.principal, deal.rate, deal.payment, deal.balance)
            if c is not None]


# -- columnar contract arithmetic ---------------------------------------------------

def _add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """canary.contract.add_months on days since 1970-01-01."""
    y, m, d = markwrite.civil_from_days(days)
    mm = m - 1 + months
    y2, m2 = y + mm // 12, mm % 12 + 1
    return markwrite.days_from_civil(y2, m2, np.minimum(d, markwrite._month_days(y2, m2)))


def _payments_due(start: np.ndarray, term: np.ndarray, today: int, rule: str) -> np.ndarray:
    """canary.contract.payments_due: its loop steps back at most once (the
    k-th anniversary is in today's month, the one before it is earlier)."""
    ty, tm, _ = markwrite.civil_from_days(np.array([today]))
    sy, sm, _ = markwrite.civil_from_days(start)
    k = (ty[0] - sy) * 12 + tm[0] - sm
    at = _add_months(start, np.maximum(k, 0))
    back = (k > 0) & ((at > today) | ((at == today) if rule == "after" else False))
    return np.clip(k - back, 0, term)


def _round_units(x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Python's round(x, d) in units of 10**-d, and where that is not
    certain here (within float noise of a half, or negative)."""
    y = x * 10.0 ** d
    f = np.floor(y)
    frac = y - f
    unsure = (np.abs(frac - 0.5) < np.maximum(1e-6, 16 * np.spacing(np.abs(y)))) | (x < 0) | ~np.isfinite(y)
    return np.where(unsure, 0, f + (frac > 0.5)).astype(np.int64), unsure


def _text(units: np.ndarray, d: np.ndarray) -> pa.Array:
    """Non-negative units written with ``d`` decimals, as f"{x:.{d}f}"."""
    out = pc.cast(pa.array(units // 10 ** d), pa.string())
    for k in np.unique(d[d > 0]):
        at = d == k
        frac = pc.utf8_lpad(pc.cast(pa.array((units % 10 ** k)[at]), pa.string()), width=int(k), padding="0")
        out = pc.replace_with_mask(out, pa.array(at), pc.binary_join_element_wise(out.filter(pa.array(at)), frac, "."))
    return out


@dataclass
class _Amounts:
    text: pa.Array  # trimmed
    ok: np.ndarray  # a plain number (canary.contract reads only those)
    value: np.ndarray  # float(text), as canary.contract reads it
    decimals: np.ndarray


def _amounts(values: pa.Array) -> _Amounts:
    t = pc.utf8_trim_whitespace(markwrite.as_strings(values))
    ok = np.asarray(pc.fill_null(pc.match_substring_regex(t, _PLAIN), False).to_numpy(zero_copy_only=False), bool)
    value = np.zeros(len(t))
    if ok.any():
        value[ok] = pc.cast(t.filter(pa.array(ok)), pa.float64()).to_numpy(zero_copy_only=False)
    dot = np.asarray(pc.fill_null(pc.find_substring(t, "."), -1).to_numpy(zero_copy_only=False), np.int64)
    length = np.asarray(pc.fill_null(pc.utf8_length(t), 0).to_numpy(zero_copy_only=False), np.int64)
    return _Amounts(t, ok, value, np.where(dot >= 0, length - dot - 1, 0))


class Keeper:
    """One recognised contract over an export's rows: marks applied to its
    free columns, its bound columns recomputed (``keep``)."""

    def __init__(self, deal: contract.Contract, today: date, date_q: int):
        self.deal, self.date_q = deal, date_q
        self.today = (today - date(1970, 1, 1)).days

    def _annuity(self, p, i, n):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(i == 0, p / n, p * i / (1 - (1 + i) ** -n))

    def _balance(self, p, i, n, k, a, rule: str):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = (1 + i) ** k
            if rule == "closed":
                out = p * g - a * (g - 1) / i
            elif rule == "exact":
                gn = (1 + i) ** n
                out = p * (gn - g) / (gn - 1)
            else:
                out, unsure = self._monthly(p, i, k, a)
                out = np.where(unsure, np.nan, out)  # left to the scalar code
        return np.where(k >= n, 0.0, np.where(i == 0, p - a * k, out))

    def _monthly(self, p, i, k, a):
        """canary.contract.balance's month-by-month rule; rows whose cent
        rounding is unsure anywhere are flagged."""
        owed, unsure = p.copy(), np.zeros(len(p), bool)
        two = np.full(len(p), 2)
        for step in range(int(k.max()) if len(k) else 0):
            at = np.flatnonzero(k > step)
            interest, u1 = _round_units(owed[at] * i[at], two[at])
            total, u2 = _round_units(owed[at] + interest / 100 - a[at], two[at])
            unsure[at] |= u1 | u2 | (owed[at] + interest / 100 - a[at] < 0)
            owed[at] = total / 100
        return owed, unsure

    def keep(self, original: Mapping[str, pa.Array],
             marked: Mapping[str, pa.Array]) -> tuple[dict[str, pa.Array], np.ndarray]:
        """The contract's columns as written, and the rows whose grant mark
        was given back. ``marked`` holds the grant and principal after their
        channels marked them (the originals where not marked); returns new
        text for the grant (where its mark took the other lattice point),
        the maturity, the payment and the balance, each recomputed where its
        relation held on the original values."""
        deal = self.deal
        n_rows = len(original[deal.start])
        out: dict[str, pa.Array] = {}
        back = np.zeros(n_rows, bool)
        s0_txt, s1_txt = (markwrite.as_strings(x) for x in (original[deal.start], marked[deal.start]))
        s0, s0_ok, _, _ = markwrite._units(markwrite._trim(s0_txt), _DATE)
        s1, s1_ok, _, _ = markwrite._units(markwrite._trim(s1_txt), _DATE)
        s1 = np.where(s1_ok, s1, s0)
        term = _amounts(original[deal.term])
        n = np.where(term.ok & (term.decimals == 0) & (term.value >= 1) & (term.value * deal.unit <= contract._MAX_TERM),
                     term.value, 0).astype(np.int64) * deal.unit
        dated = s0_ok & (n > 0)
        # The payments due by today stay as they were: the balance keeps its
        # payment count, the maturity its side of today.
        k0 = _payments_due(s0, n, self.today, deal.due)
        moved = dated & (s1 != s0)
        if moved.any():
            cross = moved & (_payments_due(s1, n, self.today, deal.due) != k0)
            if cross.any():  # the other point of the same residue, q days the other way
                q = self.date_q
                other = np.where(np.abs(s1 - s0) < q, s1 + q * np.sign(s0 - s1), 2 * s0 - s1)
                back = cross & (_payments_due(other, n, self.today, deal.due) != k0)  # never, as anniversaries are a month apart
                s1 = np.where(cross, np.where(back, s0, other), s1)
                fixed, _ = markwrite._format(s1[cross], s0_txt.filter(pa.array(cross)), _DATE)
                out[deal.start] = pc.replace_with_mask(s1_txt, pa.array(cross), fixed)
            m0_txt = markwrite.as_strings(original[deal.end])
            m0, m0_ok, _, m_form = markwrite._units(markwrite._trim(m0_txt), _DATE)
            redo = moved & m0_ok & (_add_months(s0, n) + deal.end_offset == m0)
            if redo.any():
                m1 = _add_months(s1, n) + deal.end_offset
                text, _ = markwrite._format(m1[redo], m0_txt.filter(pa.array(redo)), _DATE, m_form[redo])
                out[deal.end] = pc.replace_with_mask(m0_txt, pa.array(redo), text)
        if deal.payment is None:
            return out, back
        p0, p1 = _amounts(original[deal.principal]), _amounts(marked[deal.principal])
        rate, a0 = _amounts(original[deal.rate]), _amounts(original[deal.payment])
        i = rate.value / deal.divisor
        ok = (n > 0) & p0.ok & p1.ok & rate.ok & a0.ok & (rate.value >= 0) & (rate.value < 100) & (a0.value >= 0)
        n1 = np.maximum(n, 1)
        due0, unsure0 = _round_units(self._annuity(p0.value, i, n1), a0.decimals)
        a0_units, _ = _round_units(a0.value, a0.decimals)
        held_pay = ok & ~unsure0 & (due0 == a0_units)
        for r in np.flatnonzero(ok & unsure0):  # near a tie: canary.contract decides, as find() did
            like = a0.text[r].as_py()
            held_pay[r] = contract._cents(contract.annuity(float(p0.value[r]), float(i[r]), int(n[r])), like) == like
        changed = held_pay & (p1.value != p0.value)
        a1_val = a0.value
        if changed.any():
            a1, unsure = _round_units(self._annuity(p1.value, i, n1), a0.decimals)
            text = _text(np.where(changed & ~unsure, a1, 0), a0.decimals)
            for r in np.flatnonzero(changed & unsure):
                text = _set(text, r, contract._cents(contract.annuity(float(p1.value[r]), float(i[r]), int(n[r])),
                                                     a0.text[r].as_py()))
            out[deal.payment] = pc.if_else(pa.array(changed), text, markwrite.as_strings(original[deal.payment]))
            a1_val = np.where(changed, _floats(out[deal.payment], changed), a0.value)
        # The payments due never change (above): only a new principal moves a balance.
        grown = ok & (p1.value != p0.value)
        if deal.balance is None or not deal.rules or not grown.any():
            return out, back
        b0 = _amounts(original[deal.balance])
        k = np.where(s0_ok, k0, -1) if deal.asof_today else self._paid(p0.value, i, n, a0.value, b0, grown)
        b_ok = grown & b0.ok & (b0.value >= 0) & (k >= 0)
        rule_of = np.full(n_rows, -1)
        b0_units, _ = _round_units(b0.value, b0.decimals)
        for j, rule in enumerate(deal.rules):
            todo = np.flatnonzero(b_ok & (rule_of < 0))
            if not len(todo):
                break
            got = self._balance(p0.value[todo], i[todo], n[todo], k[todo], a0.value[todo], rule)
            units, unsure = _round_units(np.nan_to_num(got, nan=-1.0), b0.decimals[todo])
            rule_of[todo[~unsure & (units == b0_units[todo])]] = j
            for r in todo[unsure]:  # the scalar code decides
                like = b0.text[r].as_py()
                if like == contract._cents(contract.balance(float(p0.value[r]), float(i[r]), int(n[r]), int(k[r]),
                                                            float(a0.value[r]), rule), like):
                    rule_of[r] = j
        redo = rule_of >= 0
        if not redo.any():
            return out, back
        new, fallback = np.zeros(n_rows, np.int64), []
        for j, rule in enumerate(deal.rules):
            at = np.flatnonzero(rule_of == j)
            if len(at):
                got = self._balance(p1.value[at], i[at], n[at], k[at], a1_val[at], rule)
                units, unsure = _round_units(np.nan_to_num(got, nan=-1.0), b0.decimals[at])
                new[at] = np.where(unsure, 0, units)
                fallback += [(r, rule) for r in at[unsure]]
        text = _text(new, b0.decimals)
        for r, rule in fallback:
            text = _set(text, r, contract._cents(contract.balance(float(p1.value[r]), float(i[r]), int(n[r]), int(k[r]),
                                                                  float(a1_val[r]), rule), b0.text[r].as_py()))
        out[deal.balance] = pc.if_else(pa.array(redo), text, markwrite.as_strings(original[deal.balance]))
        return out, back

    def _paid(self, p, i, n, a, b: _Amounts, held) -> np.ndarray:
        """Payments made on each row whose balance is as of another day than
        the export's: the closed form solved for them, checked by keep()
        (-1 where none fits)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (b.value - a / i) / (p - a / i)
            k = np.rint(np.log(g) / np.log1p(i))
        return np.where(held & np.isfinite(k) & (k >= 0) & (k <= n), k, -1).astype(np.int64)


def _floats(text: pa.Array, where: np.ndarray) -> np.ndarray:
    out = np.zeros(len(text))
    out[where] = pc.cast(text.filter(pa.array(where)), pa.float64()).to_numpy(zero_copy_only=False)
    return out


def _set(text: pa.Array, row: int, value: str) -> pa.Array:
    mask = np.zeros(len(text), bool)
    mask[row] = True
    return pc.replace_with_mask(text, pa.array(mask), pa.array([value]))
