"""The lattice-v1 mark channel in SQL: plan, embed and read, a column at a time.

This is canary.marks (the scalar reference) written for DuckDB so that a
million rows are marked or read without a Python loop. Embedding lives here
beside reading on purpose: the two must never drift apart, and a test
compares both with the reference on random values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from canary.kinds import Kind
from canary.marks import SCHEME, SLOTS_PER_MATERIAL, selection_threshold

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


@dataclass(frozen=True)
class MarkColumn:
    """How one column of an export is marked; stored in the export's params."""

    name: str  # the column's header in the export
    kind: str  # "amount" or "date"
    slot: int  # which 16 hex characters of the row's PRF output plan it
    q: int  # lattice period in units; also the tolerance, in units
    decimals: int = 0  # amounts: digits after the point (units are 10**-decimals)
    min_units: int = 0  # amounts: smaller magnitudes are never marked (no sign flips)

    @property
    def group(self) -> int:
        return self.slot // SLOTS_PER_MATERIAL

    @property
    def tolerance(self) -> str:
        if self.kind == Kind.AMOUNT.value:
            return f"±{self.q / 10 ** self.decimals:.{self.decimals}f}"
        return f"±{self.q} days"

    def to_dict(self) -> dict:
        return asdict(self)


def material_sql(row_key_sql: str, group: int, **key) -> str:
    """The 64-hex PRF output that plans up to four columns of a row."""
    return sqlprf.hmac_hex(MARK_LABEL, f"CAST({row_key_sql} AS VARCHAR) || '|{int(group)}'", **key)


def _hex_int(material: str, start: int, length: int, typ: str = "BIGINT") -> str:
    return f"CAST(('0x' || substr({material}, {start}, {length})) AS {typ})"


def plan_sql(material: str, col: MarkColumn, fraction: float) -> dict[str, str]:
    """SQL for the cell plan (selected, dither, bit, up) of ``col``."""
    base = 16 * (col.slot % SLOTS_PER_MATERIAL) + 1
    flags = _hex_int(material, base + 12, 4)
    return {
        "selected": f"({_hex_int(material, base, 4)} < {selection_threshold(fraction)})",
        "dither": f"CAST({_hex_int(material, base + 4, 8, 'UBIGINT')} % {col.q} AS BIGINT)",
        "bit": f"({flags} & 1)",
        "up": f"(({flags} >> 1) & 1)",
    }


def amount_clean_sql(value: str) -> str:
    v = f"trim(CAST({value} AS VARCHAR))"
    return f"regexp_replace({v}, '^[¥￥]\\s?|\\s?元$|,', '', 'g')"


def units_sql(value: str, col: MarkColumn) -> str:
    """The value as an integer number of units, or NULL if it is not readable."""
    if col.kind == Kind.AMOUNT.value:
        clean = amount_clean_sql(value)
        x = f"TRY_CAST({clean} AS DECIMAL(18, 6))"
        scaled = f"({x} * {10 ** col.decimals})"
        ok = f"regexp_full_match({clean}, '[-+]?\\d+(\\.\\d+)?')"
        return f"(CASE WHEN {ok} AND {scaled} = round({scaled}) THEN CAST({scaled} AS BIGINT) END)"
    # strptime needs a constant format: one arm per format.
    v = f"trim(CAST({value} AS VARCHAR))"
    arms = " ".join(f"WHEN regexp_full_match({v}, '{rx}') THEN CAST(try_strptime({v}, '{fmt}') AS DATE)"
                    for rx, fmt in DATE_FORMATS)
    return f"((CASE {arms} END) - {EPOCH})"


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


def eligible_sql(units: str, col: MarkColumn, *, embedding: bool) -> str:
    """Whether a value may carry a mark. Depends on the value only, never on
    the key, so it cannot bias the test of an innocent export."""
    if col.kind != Kind.AMOUNT.value:
        return f"({units} IS NOT NULL)"
    floor = col.min_units + (col.q if embedding else 0)
    return f"({units} IS NOT NULL AND abs({units}) >= {floor})"


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


SCHEME_NAME = SCHEME
