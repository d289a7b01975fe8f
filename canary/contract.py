"""A loan's contract as one row of a list shows it, found from the row's own
values: which date is the grant and which the maturity (maturity = grant +
term months), which numbers are the principal, the rate and the monthly
payment (payment = the annuity of principal, rate and term, to the cent), and
which is the balance (what the schedule leaves after the payments due).

Why: a canary took its term from one row and its dates from another, and
redrew its cents, so its contract did not add up (a review: term against
dates for 85% of canaries, balance off the schedule for 54-93%, against 3.5%
and 0% of real rows). Headers differ from bank to bank; a relation that holds
to the day and to the cent on a real row does not hold by chance, so the row
itself says which columns are bound and how the bank computes them.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Mapping

_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_MAX_TERM = 600  # months (50 years): a longer "term" is some other number
# Monthly rate from the rate column's value: annual %, annual fraction, monthly %, monthly per mille.
_RATE_DIVISORS = (1200.0, 12.0, 100.0, 1000.0)
_BALANCE_RULES = ("closed", "exact", "monthly")
_DUE_RULES = ("on", "after")  # a payment counts as made on its due day, or only after it


def add_months(d: date, months: int) -> date:
    """``d`` plus whole months, the day kept or the month's last (01-31 + 1 month = 02-28)."""
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    last = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).day
    return date(y, m, min(d.day, last))


def payments_due(start: date, term: int, on: date, rule: str = "on") -> int:
    """Monthly payments due by ``on`` (the first a month after the grant)."""
    k = (on.year - start.year) * 12 + on.month - start.month
    while k > 0 and (add_months(start, k) > on or (rule == "after" and add_months(start, k) == on)):
        k -= 1
    return max(0, min(term, k))


def annuity(principal: float, monthly: float, term: int) -> float:
    return principal / term if monthly == 0 else principal * monthly / (1 - (1 + monthly) ** -term)


def balance(principal: float, monthly: float, term: int, paid: int, payment: float, rule: str) -> float:
    """Principal owed after ``paid`` payments of ``payment``, by ``rule``:
    the closed form with the payment as written, the closed form with the
    exact annuity, or month by month with the interest rounded to the cent."""
    if paid >= term:
        return 0.0
    if monthly == 0:
        return principal - payment * paid
    g = (1 + monthly) ** paid
    if rule == "closed":
        return principal * g - payment * (g - 1) / monthly
    if rule == "exact":
        gn = (1 + monthly) ** term
        return principal * (gn - g) / (gn - 1)
    owed = principal
    for _ in range(paid):
        owed = round(owed + round(owed * monthly, 2) - payment, 2)
    return owed


def _number(text: str | None) -> float | None:
    t = (text or "").strip()
    return float(t) if _PLAIN.fullmatch(t) else None


def _decimals(text: str) -> int:
    t = text.strip()
    return len(t.rpartition(".")[2]) if "." in t else 0


def _cents(x: float, like: str) -> str:
    """``x`` written with as many decimals as ``like``."""
    return f"{round(x, _decimals(like)):.{_decimals(like)}f}"


@dataclass(frozen=True)
class Contract:
    """The columns of one loan and how they are bound (found on one row)."""
    start: str
    end: str
    term: str
    unit: int  # months per unit of the term column (1, or 12 for years)
    end_offset: int  # maturity minus grant + term, in days (0, or -1: the day before)
    principal: str | None = None
    rate: str | None = None
    divisor: float = 1200.0
    payment: str | None = None
    balance: str | None = None
    rules: tuple[str, ...] = ()  # how the balance follows the schedule: each rule the row agrees with
    due: str = "on"
    asof_today: bool = True  # the balance is as of the day of the export (else only ``paid`` is known)
    paid: int | None = None  # payments made on the row the contract was found on

    @property
    def rule(self) -> str | None:
        """The schedule the balance follows (None: none known)."""
        return self.rules[0] if self.rules else None

    def maturity(self, start: date, term: int) -> date:
        return add_months(start, term * self.unit) + timedelta(days=self.end_offset)


def find(row: Mapping[str, str | None], dates: Mapping[str, date], numbers: list[str],
         today: date) -> Contract | None:
    """The contract ``row`` holds, or None. ``dates``: the row's event dates
    by column; ``numbers``: the columns that may hold a term, a rate or an
    amount (plain numbers on this row)."""
    values = {c: v for c in numbers if (v := _number(row.get(c))) is not None}
    found = None
    for term_col, v in values.items():
        if v != int(v) or not 1 <= v <= _MAX_TERM or "." in (row.get(term_col) or ""):
            continue
        for s_col, s in dates.items():
            for e_col, e in dates.items():
                if e <= s:
                    continue
                for unit in (1, 12):
                    if int(v) * unit > _MAX_TERM:
                        continue
                    for off in (0, -1):
                        if add_months(s, int(v) * unit) + timedelta(days=off) == e:
                            found = found or Contract(s_col, e_col, term_col, unit, off)
    if found is None:
        return None
    start, n = dates[found.start], int(values[found.term]) * found.unit
    amounts = {c: x for c, x in values.items() if c != found.term}
    for p_col, p in amounts.items():
        for r_col, r in amounts.items():
            if r_col == p_col or not 0 <= r < 100:
                continue
            for div in _RATE_DIVISORS:
                due = annuity(p, r / div, n)
                for a_col, a in amounts.items():
                    if a_col in (p_col, r_col) or _cents(due, row[a_col]) != row[a_col].strip():
                        continue
                    deal = replace(found, principal=p_col, rate=r_col, divisor=div, payment=a_col)
                    return _with_balance(deal, row, amounts, p, r / div, n, a, start, today)
    return found


def _with_balance(deal: Contract, row: Mapping[str, str | None], amounts: Mapping[str, float], p: float,
                  i: float, n: int, a: float, start: date, today: date) -> Contract:
    """``deal`` with the column that holds the schedule's balance, if one does."""
    others = [c for c in amounts if c not in (deal.principal, deal.rate, deal.payment)]
    for b_col in others:
        text = row[b_col].strip()
        for due in _DUE_RULES:  # as of the export's day first: then any day works for a canary
            k = payments_due(start, n, today, due)
            rules = tuple(r for r in _BALANCE_RULES if _cents(balance(p, i, n, k, a, r), text) == text)
            if rules:
                return replace(deal, balance=b_col, rules=rules, due=due, paid=k)
        # As of another day: the payments made are still known. Month by month in one pass.
        owed = p
        for k in range(n):
            if k:
                owed = round(owed + round(owed * i, 2) - a, 2)
            rules = tuple(r for r in _BALANCE_RULES if _cents(owed if r == "monthly" else
                                                              balance(p, i, n, k, a, r), text) == text)
            if rules:
                return replace(deal, balance=b_col, rules=rules, asof_today=False, paid=k)
    return deal


def agree(deal: Contract, others: list[Contract]) -> Contract:
    """``deal`` with the schedules its balance may follow narrowed to those
    other rows' contracts also follow: a loan a few payments old agrees with
    several (they part later), and a canary moved further along would
    follow the wrong one."""
    for other in others:
        both = tuple(r for r in deal.rules if r in other.rules)
        if other.balance == deal.balance and both:
            deal = replace(deal, rules=both)
    return deal


def settled(deal: Contract, row: Mapping[str, str | None], start: date, factor: float, today: date,
            months: int = 0) -> bool:
    """Whether every schedule ``deal`` may follow gives the canary the same balance."""
    if len(deal.rules) < 2:
        return True
    return len({rewrite(replace(deal, rules=(r,)), row, start, factor, today, "%Y-%m-%d", months)[deal.balance]
                for r in deal.rules}) == 1


def rewrite(deal: Contract, row: Mapping[str, str | None], start: date, factor: float,
            today: date, fmt: str, months: int = 0) -> dict[str, str | None]:
    """The contract's cells for a canary that takes ``row``'s contract with
    the grant on ``start`` and the principal times ``factor`` (where it has
    cents to move): the maturity, payment and balance recomputed so that the
    contract adds up as it did on ``row``, to the day and to the cent.
    ``months``: the grant moved by whole months (a balance as of another day
    than the export's: a grant a month later has one payment fewer made)."""
    out: dict[str, str | None] = {deal.term: row.get(deal.term)}
    n = int(_number(row.get(deal.term))) * deal.unit
    out[deal.start] = start.strftime(fmt)
    out[deal.end] = deal.maturity(start, n // deal.unit).strftime(fmt)
    if deal.principal is None:
        return out
    text = row[deal.principal].strip()
    p = _number(text)
    if factor != 1.0 and "." in text and text.rpartition(".")[2].strip("0"):
        text = _cents(p * factor, text)  # a round principal stays on the list's menu of amounts
        p = float(text)
    i = _number(row[deal.rate]) / deal.divisor
    out[deal.principal], out[deal.rate] = text, row[deal.rate]
    a_text = _cents(annuity(p, i, n), row[deal.payment])
    out[deal.payment] = a_text
    if deal.balance is not None and deal.rule is not None:
        k = payments_due(start, n, today, deal.due) if deal.asof_today else min(n, max(0, deal.paid - months))
        out[deal.balance] = _cents(balance(p, i, n, k, float(a_text), deal.rule), row[deal.balance])
    return out
