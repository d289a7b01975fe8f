"""The lattice-v1 mark channel in SQL: plan, embed and read, a column at a time.

This is canary.marks (the scalar reference) written for DuckDB so that a
million rows are marked or read without a Python loop. Embedding lives here
beside reading on purpose: the two must never drift apart, and a test
compares both with the reference on random values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from canary.kinds import Kind
from canary.marks import SLOTS_PER_MATERIAL, selection_threshold

from . import sqlprf

MARK_LABEL = "mark/v1"
EPOCH = "DATE '1970-01-01'"

# Date formats a date mark keeps: (regex for the value, strftime pattern).
DATE_FORMATS = (
    ("\\d{4}-\\d{2}-\\d{2}", "%Y-%m-%d"),
    ("\\d{4}/\\d{2}/\\d{2}", "%Y/%m/%d"),
    ("\\d{4}\\.\\d{2}\\.\\d{2}", "%Y.%m.%d"),
    ("\\d{4}年\\d{2}月\\d{2}日", "%Y年%m月%d日"),
    ("\\d{8}", "%Y%m%d"),
)


# Looser forms a leak may carry (a spreadsheet drops zero padding, adds a time).
READ_DATE_FORMATS = (
    ("\\d{4}-\\d{1,2}-\\d{1,2}", "%Y-%m-%d"),
    ("\\d{4}/\\d{1,2}/\\d{1,2}", "%Y/%m/%d"),
    ("\\d{4}\\.\\d{1,2}\\.\\d{1,2}", "%Y.%m.%d"),
    ("\\d{4}年\\d{1,2}月\\d{1,2}日", "%Y年%m月%d日"),
    ("\\d{8}", "%Y%m%d"),
)
EXCEL_EPOCH_SERIAL = 25569  # Excel's serial number of 1970-01-01


@dataclass(frozen=True)
class MarkColumn:
    """How one channel of one column of an export is marked; stored in the export's params."""

    name: str  # the column's header in the export
    kind: str  # "amount" or "date"
    slot: int  # which 16 hex characters of the row's PRF output plan it
    q: int  # lattice period (fine: in units; coarse: in whole currency units)
    decimals: int = 0  # amounts: digits after the point (units are 10**-decimals)
    min_units: int = 0  # amounts: smaller magnitudes are never marked (no sign flips)
    channel: str = "fine"  # "fine": the value itself; "coarse": its whole-yuan part (survives rounding)
    sel_lo: float = 0.0  # this channel marks cells whose selector falls in [sel_lo, sel_hi)
    sel_hi: float = 1.0
    # dates: later days are never marked (the export's day less q: no mark moves a date past
    # the day it was exported); None in exports made before the rule
    max_units: int | None = None
    # amounts: whole multiples of this many units are never marked (a loan of 500000.00 moved
    # to 500000.37 shows the move, and the list's other loans show what it was); None in
    # exports made before the rule
    round_units: int | None = None

    @property
    def group(self) -> int:
        return self.slot // SLOTS_PER_MATERIAL

    @property
    def per_unit(self) -> int:
        """Units in one whole currency unit (100 for amounts with cents)."""
        return 10 ** self.decimals

    @property
    def tolerance(self) -> str:
        if self.kind == Kind.AMOUNT.value and self.channel == "coarse":
            return f"±{self.q + 0.5:.2f} (survives rounding to whole yuan)"
        if self.kind == Kind.AMOUNT.value:
            return f"±{self.q / 10 ** self.decimals:.{self.decimals}f}"
        return f"±{self.q} days"

    def to_dict(self) -> dict:
        return asdict(self)


def material_sql(row_key_sql: str, group: int, **key) -> str:
    """The 64-hex PRF output that plans up to four columns of a row."""
    return sqlprf.hmac_hex(MARK_LABEL, f"CAST({row_key_sql} AS VARCHAR) || '|{int(group)}'", **key)


def material_bytes(keys, row_keys, groups, key_index=None, take=None) -> dict:
    """material_sql for a whole Arrow column of row keys, by the native PRF
    core (forensics.fastprf), as bytes: {group: (n, 32) uint8}, the hex
    material's bytes (forensics.markread reads them). With ``take`` (indices
    into ``row_keys``), the material of ``row_keys.take(take)``: each
    distinct key's message is spelled once, and rows point at it."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import fastprf

    text_key = pc.cast(row_keys, pa.string())
    return {g: fastprf.hmac_bytes(keys, MARK_LABEL, pc.binary_join_element_wise(text_key, f"|{int(g)}", ""),
                                  key_index=key_index,
                                  value_index=None if take is None else np.asarray(take)) for g in groups}


def _hex_int(material: str, start: int, length: int, typ: str = "BIGINT") -> str:
    return f"CAST(('0x' || substr({material}, {start}, {length})) AS {typ})"


def plan_sql(material: str, col: MarkColumn) -> dict[str, str]:
    """SQL for the cell plan (selected, dither, bit, up) of ``col``."""
    base = 16 * (col.slot % SLOTS_PER_MATERIAL) + 1
    flags = _hex_int(material, base + 12, 4)
    sel = _hex_int(material, base, 4)
    lo, hi = selection_threshold(col.sel_lo), selection_threshold(col.sel_hi)
    return {
        "selected": f"({sel} >= {lo} AND {sel} < {hi})",
        "dither": f"CAST({_hex_int(material, base + 4, 8, 'UBIGINT')} % {col.q} AS BIGINT)",
        "bit": f"({flags} & 1)",
        "up": f"(({flags} >> 1) & 1)",
    }


def amount_clean_sql(value: str) -> str:
    v = f"trim(CAST({value} AS VARCHAR))"
    return f"regexp_replace({v}, '^[¥￥]\\s?|\\s?元$|,', '', 'g')"


def _amount_read_sql(value: str) -> tuple[str, str]:
    """(SQL of the decimal text, SQL of whether it was given in 万) of an
    amount as a leak may show it: full-width digits, spaces, currency signs,
    thousands separators, a 万 suffix."""
    v = f"translate(trim(CAST({value} AS VARCHAR)), '０１２３４５６７８９．，－', '0123456789.,-')"
    v = f"regexp_replace({v}, '[\\s¥￥,元]', '', 'g')"
    return f"rtrim({v}, '万')", f"ends_with({v}, '万')"


_PLAIN_DECIMAL_SQL = "regexp_full_match({}, '[-+]?\\d+(\\.\\d+)?')"


def _decimal_units_sql(clean: str, exponent: int) -> str:
    """A cleaned decimal text in units of 10^-exponent, or NULL if it is not a
    decimal, not a whole number of such units, or beyond BIGINT."""
    x = f"TRY_CAST({clean} AS DECIMAL(18, 6))"
    whole = f"trunc({x})"
    # Whole and fractional parts apart, each exact in 64 bits: scaling through
    # DECIMAL(38) and casting back costs 1 us a value, this a tenth of that.
    fits = f" AND abs({x}) < {9 * 10 ** (18 - exponent)}" if exponent > 6 else ""  # |x| < 10^12 otherwise
    return (f"(CASE WHEN {_PLAIN_DECIMAL_SQL.format(clean)} AND {x} = round({x}, {exponent}){fits} "
            f"THEN CAST({whole} AS BIGINT) * {10 ** exponent} + CAST(({x} - {whole}) * {10 ** exponent} AS BIGINT) END)")


def units_sql(value: str, col: MarkColumn, *, reading: bool = False) -> str:
    """The value as an integer number of units, or NULL if it is not readable.

    Embedding accepts only the strict forms it can write back; reading also
    accepts what a leak's journey may have made of them.
    """
    if col.kind == Kind.AMOUNT.value:
        if not reading:
            return _decimal_units_sql(amount_clean_sql(value), col.decimals)
        # Most leaked amounts are plain decimals already: those skip the
        # clean-up (translate() alone costs about 1 us a value), with the same result.
        plain = f"trim(CAST({value} AS VARCHAR))"
        clean, wan = _amount_read_sql(value)
        return (f"(CASE WHEN {_PLAIN_DECIMAL_SQL.format(plain)} THEN {_decimal_units_sql(plain, col.decimals)} "
                f"WHEN {wan} THEN {_decimal_units_sql(clean, col.decimals + 4)} "
                f"ELSE {_decimal_units_sql(clean, col.decimals)} END)")
    # strptime needs a constant format: one arm per format.
    v = f"trim(CAST({value} AS VARCHAR))"
    formats = DATE_FORMATS
    if reading:
        v = f"regexp_replace({v}, '[ T]\\d{{1,2}}:\\d{{2}}(:\\d{{2}}(\\.\\d+)?)?$', '')"
        formats = READ_DATE_FORMATS
    arms = " ".join(f"WHEN regexp_full_match({v}, '{rx}') THEN CAST(try_strptime({v}, '{fmt}') AS DATE) - {EPOCH}"
                    for rx, fmt in formats)
    if reading:  # an Excel serial number (a date column re-saved as numbers)
        serial = f"TRY_CAST({v} AS DOUBLE)"
        arms += (f" WHEN regexp_full_match({v}, '\\d{{5}}(\\.0+)?') AND {serial} BETWEEN 20000 AND 80000 "
                 f"THEN CAST({serial} AS BIGINT) - {EXCEL_EPOCH_SERIAL}")
    return f"(CASE {arms} END)"


def coarse_units_sql(units: str, col: MarkColumn) -> str:
    """Whole currency units of |value|, rounded half up: what a leak rounded to
    whole yuan (or truncated) still shows."""
    u = col.per_unit
    return f"((abs({units}) + {u // 2}) // {u})"


def embed_units_sql(units: str, plan: dict[str, str], q: int) -> str:
    """canary.marks.embed in SQL."""
    h = q // 2
    t = f"(({plan['dither']} + {plan['bit']} * {h}) % {q})"
    r = f"((({units} - {t}) % {q} + {q}) % {q})"
    return (f"(CASE WHEN {r} = 0 THEN (CASE WHEN {plan['up']} = 1 THEN {units} + {q} ELSE {units} - {q} END) "
            f"WHEN {r} < {q} - {r} THEN {units} - {r} "
            f"WHEN {r} > {q} - {r} THEN {units} + ({q} - {r}) "
            f"WHEN {plan['up']} = 1 THEN {units} + ({q} - {r}) ELSE {units} - {r} END)")


def read_bit_sql(units: str, dither: str, q: int) -> str:
    """canary.marks.read in SQL: 0, 1, or NULL when the value is off the lattice."""
    r = f"((({units} - {dither}) % {q} + {q}) % {q})"
    return f"(CASE {r} WHEN 0 THEN 0 WHEN {q // 2} THEN 1 END)"


# Dates a mark may move, in days since 1970-01-01: from 1900-01-01 up to (not
# including) 9999-01-01, less a period at each end. Placeholders such as
# 1900-01-01, 0000-01-01 and 9999-12-31 keep their meaning (a system may test
# for them), and no mark writes a year outside 1900-9999.
MARKABLE_DAYS = (-25567, 2932532)


def eligible_sql(units: str, col: MarkColumn, *, embedding: bool) -> str:
    """Whether a value may carry a mark. Depends on the value only, never on
    the key, so it cannot bias the test of an innocent export."""
    if col.kind != Kind.AMOUNT.value:
        if not embedding:  # a cell past max_units + q cannot hold a mark: not read
            return (f"({units} IS NOT NULL)" if col.max_units is None
                    else f"({units} IS NOT NULL AND {units} <= {col.max_units + col.q})")
        lo, hi = MARKABLE_DAYS
        hi = hi - 1 - col.q if col.max_units is None else min(hi - 1 - col.q, col.max_units)
        return f"({units} IS NOT NULL AND {units} BETWEEN {lo + col.q} AND {hi})"
    step = col.q * (col.per_unit if col.channel == "coarse" else 1)
    floor = col.min_units + (step if embedding else 0)
    not_round = "" if col.round_units is None else f" AND {units} % {col.round_units} <> 0"
    return f"({units} IS NOT NULL AND abs({units}) >= {floor}{not_round})"


def embed_coarse_sql(units: str, plan: dict[str, str], col: MarkColumn) -> str:
    """Move the whole-yuan part onto the lattice and keep the cents below half a
    yuan, so rounding or truncating to whole yuan keeps the mark."""
    u = col.per_unit
    whole = f"(abs({units}) // {u})"
    cents = f"(abs({units}) % {u})"
    new_cents = f"(CASE WHEN {cents} < {u // 2} THEN {cents} ELSE {cents} - {u // 2} END)"
    new_whole = embed_units_sql(whole, plan, col.q)
    return f"(sign({units}) * ({new_whole} * {u} + {new_cents}))"


def read_sql(units: str, dither: str, col: MarkColumn) -> str:
    """The bit a (reading-parsed) value carries under one export's dither, or NULL."""
    if col.channel == "coarse":
        return read_bit_sql(coarse_units_sql(units, col), dither, col.q)
    return read_bit_sql(units, dither, col.q)


def embed_sql(units: str, plan: dict[str, str], col: MarkColumn) -> str:
    if col.channel == "coarse":
        return embed_coarse_sql(units, plan, col)
    return embed_units_sql(units, plan, col.q)


def format_units_sql(units: str, original: str, col: MarkColumn) -> str:
    """Write units back in the original value's own format."""
    if col.kind == Kind.AMOUNT.value:
        d = col.decimals
        a = f"abs({units})"
        ip = f"({a} // {10 ** d})"
        int_txt = f"(CASE WHEN contains({original}, ',') THEN format('{{:,}}', {ip}) ELSE CAST({ip} AS VARCHAR) END)"
        frac = f"('.' || lpad(CAST({a} % {10 ** d} AS VARCHAR), {d}, '0'))" if d > 0 else "''"
        prefix = f"regexp_extract({original}, '^\\s*([¥￥]?)', 1)"
        suffix = f"regexp_extract({original}, '(元?)\\s*$', 1)"
        sign = f"(CASE WHEN {units} < 0 THEN '-' ELSE '' END)"
        return f"({prefix} || {sign} || {int_txt} || {frac} || {suffix})"
    d = f"({EPOCH} + CAST({units} AS INTEGER))"
    v = f"trim(CAST({original} AS VARCHAR))"
    arms = " ".join(f"WHEN regexp_full_match({v}, '{rx}') THEN strftime({d}, '{fmt}')" for rx, fmt in DATE_FORMATS)
    return f"(CASE {arms} END)"

