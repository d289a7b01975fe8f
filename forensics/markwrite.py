"""Embedding lattice-v1 marks over Arrow columns: markplan's SQL for the export's side.

The export parses a marked cell's value to integer units (markplan.units_sql,
reading=False), checks it may carry a mark (eligible_sql, embedding=True),
moves it onto the lattice (embed_sql) and writes it back in the original's
own format (format_units_sql). These functions do the same over whole
columns in NumPy and pyarrow.compute (the same RE2 patterns as the SQL),
without a Python loop over the values. Where a value's result is not
decided here exactly as DuckDB would decide it (odd inputs: more than six
decimals, more than twelve integer digits, amounts of 10**12 units or
more, dates in year 0),
it is flagged ``odd`` and the caller computes that row with the SQL.
Tests compare every function with the SQL on random values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .duck import value_buffers
from .markplan import DATE_FORMATS, MARKABLE_DAYS, MarkColumn

_AMOUNT_CLEAN = "^[¥￥]\\s?|\\s?元$|,"  # markplan.amount_clean_sql
_AMOUNT_PARTS = "^(?P<s>[-+]?)(?P<i>\\d+)(?P<f>(?:\\.\\d+)?)$"  # units_sql's '[-+]?\d+(\.\d+)?'
_MAX_INT_DIGITS = 12  # DECIMAL(18, 6): twelve digits before the point
_MAX_DECIMALS = 6  # more are rounded by the cast: left to the SQL


def as_strings(values) -> pa.Array:
    """One Arrow string array of a (chunked) column."""
    return _array(values)


def _array(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


# What DuckDB's trim() strips: Unicode space separators (Zs), not tabs or newlines.
_SPACES = " \u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"


def _trim(values: pa.Array) -> pa.Array:
    return pc.utf8_trim(values, characters=_SPACES)


def _np(arr, dtype=None) -> np.ndarray:
    out = np.asarray(arr.to_numpy(zero_copy_only=False))
    return out if dtype is None else out.astype(dtype)


def _template(fmt: str) -> list:
    """A DATE_FORMATS pattern as fixed pieces: ('d', field, width) or ('l', bytes)."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%":
            out.append(("d", fmt[i + 1], 4 if fmt[i + 1] == "Y" else 2))
            i += 2
        else:
            out.append(("l", fmt[i].encode()))
            i += 1
    return out


def _regex(template: list) -> str:
    """The regex a template stands for, spelled as DATE_FORMATS spells it."""
    out, run = "", 0
    for p in template + [("l", b"")]:
        if p[0] == "d":
            run += p[2]
            continue
        out += (f"\\d{{{run}}}" if run else "") + ("\\." if p[1] == b"." else p[1].decode())
        run = 0
    return out


_TEMPLATES = [_template(fmt) for _, fmt in DATE_FORMATS]
if [rx for rx, _ in DATE_FORMATS] != [_regex(t) for t in _TEMPLATES]:  # they must say the same
    raise ImportError("markplan.DATE_FORMATS changed: update forensics.markwrite's date templates")


def _date_forms(t: pa.Array) -> tuple[np.ndarray, dict]:
    """Which DATE_FORMATS pattern each (trimmed) value fully matches (-1:
    none), and each matched value's (year, month, day) fields, from its bytes."""
    n = len(t)
    form = np.full(n, -1, np.int64)
    fields = {k: np.zeros(n, np.int64) for k in "Ymd"}
    if n == 0:
        return form, fields
    offsets, data = value_buffers(t)
    offsets = offsets.astype(np.int64)
    length = np.diff(offsets)
    if t.null_count:
        length = np.where(_np(t.is_valid(), bool), length, -1)
    for k, tpl in enumerate(_TEMPLATES):
        width = sum(p[2] if p[0] == "d" else len(p[1]) for p in tpl)
        rows = np.flatnonzero((length == width) & (form < 0))
        if not len(rows):
            continue
        if len(rows) == n:  # all of one width: their bytes are one block
            b = data[offsets[0]:offsets[0] + n * width].reshape(n, width)
        else:
            b = np.lib.stride_tricks.sliding_window_view(data, width)[offsets[rows]]
        ok = np.ones(len(rows), bool)
        vals, pos = {}, 0
        for p in tpl:
            if p[0] == "d":
                v = np.zeros(len(rows), np.int32)
                for j in range(p[2]):  # a column at a time: NumPy is slow along short rows
                    digit = b[:, pos + j] - np.uint8(48)
                    ok &= digit < 10
                    v = v * 10 + digit
                vals[p[1]] = v
                pos += p[2]
            else:
                for byte in p[1]:
                    ok &= b[:, pos] == byte
                    pos += 1
        hit = rows[ok]
        form[hit] = k
        for f, v in vals.items():
            fields[f][hit] = v[ok]
    return form, fields


_POW10 = 10 ** np.arange(19, dtype=np.int64)


def _plain_amounts(t: pa.Array):
    """Amounts written as units_sql's '[-+]?\\d+(\\.\\d+)?' already (most are):
    such a text is its own clean form (amount_clean_sql removes nothing).
    Returns (plain, decided, neg, micro): ``decided`` rows have at most
    twelve digits before the point and six after, and ``micro`` is their
    absolute value in millionths."""
    n = len(t)
    plain = _np(pc.fill_null(pc.match_substring_regex(t, pattern="^[-+]?[0-9]+(?:[.][0-9]+)?$"), False), bool)
    offsets, data = value_buffers(t)
    length = np.diff(offsets).astype(np.int64)
    first = np.zeros(n, np.uint8)
    some = length > 0
    first[some] = data[offsets[:-1][some]]
    has_sign = (first == 43) | (first == 45)
    dot = _np(pc.fill_null(pc.find_substring(t, "."), -1), np.int64)  # -1: none
    n_int = np.where(dot >= 0, dot, length) - has_sign
    n_frac = np.where(dot >= 0, length - dot - 1, 0)
    decided = plain & (n_int <= _MAX_INT_DIGITS) & (n_frac <= _MAX_DECIMALS)
    micro = np.zeros(n, np.int64)
    idx = np.flatnonzero(decided)
    if len(idx):
        digits = pc.utf8_ltrim(pc.replace_substring(t.take(pa.array(idx)), ".", ""), characters="+-")
        micro[idx] = _np(pc.cast(digits, pa.int64()), np.int64) * _POW10[_MAX_DECIMALS - n_frac[idx]]
    return plain, decided, first == 45, micro


def _regex_amounts(t: pa.Array):
    """_plain_amounts for any text, by amount_clean_sql's and units_sql's regexes."""
    n = len(t)
    clean = pc.replace_substring_regex(t, pattern=_AMOUNT_CLEAN, replacement="")
    parts = pc.extract_regex(clean, pattern=_AMOUNT_PARTS)
    numeric = _np(parts.is_valid(), bool)
    decided, neg, micro = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int64)
    idx = np.flatnonzero(numeric)
    if len(idx):
        parts = parts.filter(pa.array(numeric))
        ints, fracs = parts.field("i"), parts.field("f")
        n_int = _np(pc.utf8_length(ints), np.int64)
        n_frac = np.maximum(_np(pc.utf8_length(fracs), np.int64) - 1, 0)
        ok = (n_int <= _MAX_INT_DIGITS) & (n_frac <= _MAX_DECIMALS)
        decided[idx] = ok
        neg[idx] = _np(pc.equal(parts.field("s"), "-"), bool)
        keep = pa.array(ok)
        whole = _np(pc.cast(ints.filter(keep), pa.int64()), np.int64)
        digits = pc.utf8_rpad(pc.utf8_slice_codeunits(fracs.filter(keep), 1), width=_MAX_DECIMALS, padding="0")
        micro[idx[ok]] = whole * 10 ** _MAX_DECIMALS + _np(pc.cast(digits, pa.int64()), np.int64)
    return numeric, decided, neg, micro


def _amount_units(t: pa.Array, decimals: int):
    plain, decided, neg, micro = _plain_amounts(t)
    numeric = plain.copy()
    rest = np.flatnonzero(~plain)
    if len(rest):
        got = _regex_amounts(t.take(pa.array(rest)))
        for whole, part in zip((numeric, decided, neg, micro), got):
            whole[rest] = part
    odd = numeric & ~decided  # more digits than DECIMAL(18, 6) holds: the cast's rounding or overflow
    # 10**12 units and more (ten billion yuan in cents): rare, left to the SQL.
    over = decided & (micro >= 10 ** (18 - decimals))
    odd |= over
    below = 10 ** (_MAX_DECIMALS - decimals)
    valid = decided & ~over & (micro % below == 0)  # units_sql: x = round(x, decimals)
    u = micro // below
    return np.where(valid, np.where(neg, -u, u), 0).astype(np.int64), valid, odd


def units(values, col: MarkColumn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """markplan.units_sql(reading=False) of each value: (units, valid, odd),
    units meaningful where ``valid``; ``odd`` where the SQL must decide."""
    return _units(_trim(_array(values)), col)[:3]


def _units(t: pa.Array, col: MarkColumn):
    """units() of trimmed values, and for dates each value's DATE_FORMATS index."""
    n = len(t)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, np.int64)
    if col.kind == "amount":
        return (*_amount_units(t, col.decimals), None)
    form, f = _date_forms(t)
    y, m, d = f["Y"], f["m"], f["d"]
    hit = form >= 0
    ok = hit & (m >= 1) & (m <= 12) & (d >= 1) & (d <= _month_days(y, np.clip(m, 1, 12)))
    odd = hit & (y == 0)  # year 0: DuckDB's 1 BC
    ok &= ~odd
    out = np.where(ok, days_from_civil(y, np.clip(m, 1, 12), np.clip(d, 1, 31)), 0)
    return out, ok, odd, form


def mark(values, dither, bit, up, col: MarkColumn) -> tuple[np.ndarray, pa.Array, np.ndarray, np.ndarray]:
    """One channel over the cells it selected: (marked, text, odd, unread).
    ``marked``: eligible_sql(embedding=True) of the parsed value; ``text``:
    the marked cells' new values (embed_sql, then format_units_sql), in row
    order; rows ``odd`` are left to the SQL (their other outputs mean
    nothing); ``unread``: a value is there (not blank) but the embedding
    cannot parse it, so it is written as it came (the export records these:
    tidied later, such a cell would look marked when it never was)."""
    values = _array(values)
    trimmed = _trim(values)
    u, valid, odd, form = _units(trimmed, col)
    on = eligible(u, valid, col) & ~odd
    rows = np.flatnonzero(on)
    new = embed(u[rows], np.asarray(dither)[rows], np.asarray(bit)[rows], np.asarray(up)[rows], col)
    text, bad = _format(new, values.take(pa.array(rows)), col, None if form is None else form[rows])
    odd[rows[bad]] = True
    unread = ~valid & ~odd & _np(pc.fill_null(pc.greater(pc.utf8_length(trimmed), 0), False), bool)
    return on, text, odd, unread


def _month_days(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)[m]
    return days + ((m == 2) & leap)


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.asarray(z, np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (m <= 2), m, d


def eligible(u: np.ndarray, valid: np.ndarray, col: MarkColumn) -> np.ndarray:
    """markplan.eligible_sql(embedding=True)."""
    if col.kind != "amount":
        lo, hi = MARKABLE_DAYS
        hi = hi - 1 - col.q if col.max_units is None else min(hi - 1 - col.q, col.max_units)
        return valid & (u >= lo + col.q) & (u <= hi)
    step = col.q * (col.per_unit if col.channel == "coarse" else 1)
    on = valid & (np.abs(u) >= col.min_units + step)
    return on if col.round_units is None else on & (u % col.round_units != 0)


def _embed_units(u, dither, bit, up, q: int) -> np.ndarray:
    t = (dither + bit * (q // 2)) % q
    r = np.mod(u - t, q)
    up = up == 1
    return np.where(r == 0, np.where(up, u + q, u - q),
                    np.where(r < q - r, u - r,
                             np.where(r > q - r, u + (q - r), np.where(up, u + (q - r), u - r))))


def embed(u, dither, bit, up, col: MarkColumn) -> np.ndarray:
    """markplan.embed_sql on int64 arrays."""
    u, dither, bit, up = (np.asarray(x, np.int64) for x in (u, dither, bit, up))
    if col.channel != "coarse":
        return _embed_units(u, dither, bit, up, col.q)
    per = col.per_unit
    a = np.abs(u)
    cents = a % per
    new_cents = np.where(cents < per // 2, cents, cents - per // 2)
    return np.sign(u) * (_embed_units(a // per, dither, bit, up, col.q) * per + new_cents)


def _fixed_text(pieces, n: int) -> pa.Array:
    """Strings of one fixed width from literal text and zero-padded numbers:
    ``pieces`` is a list of str or (int array, digits)."""
    parts, width = [], 0
    for p in pieces:
        if isinstance(p, str):
            b = np.frombuffer(p.encode(), np.uint8)
            parts.append(np.broadcast_to(b, (n, len(b))))
        else:
            v, w = p
            v = np.asarray(v, np.int64)
            cols = [(v // 10 ** (w - 1 - k)) % 10 + 48 for k in range(w)]
            parts.append(np.stack(cols, axis=1).astype(np.uint8) if n else np.zeros((0, w), np.uint8))
        width += parts[-1].shape[1]
    data = np.ascontiguousarray(np.concatenate(parts, axis=1)) if n else np.zeros((0, width), np.uint8)
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


def _grouped(ip: np.ndarray) -> pa.Array:
    """format('{:,}', ip) of non-negative integers."""
    ip = np.asarray(ip, np.int64)
    size = np.ones(len(ip), np.int64)  # groups of three digits each value has
    q = ip // 1000
    while (q > 0).any():
        size += q > 0
        q //= 1000
    text = pa.nulls(len(ip), pa.string())
    for g in range(int(size.max()) - 1 if len(ip) else -1, -1, -1):  # from the top group down
        plain = pc.cast(pa.array((ip // 1000 ** g) % 1000), pa.string())
        text = pc.if_else(pa.array(size == g + 1), plain, text)
        joined = pc.binary_join_element_wise(text, pc.utf8_lpad(plain, width=3, padding="0"), ",")
        text = pc.if_else(pa.array(size > g + 1), joined, text)
    return text


def format_units(u: np.ndarray, original, col: MarkColumn) -> tuple[pa.Array, np.ndarray]:
    """markplan.format_units_sql: (text, odd) of units written in each
    original value's format (originals the units were parsed from)."""
    return _format(np.asarray(u, np.int64), _array(original), col)


def _edges(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each value's first and last byte (0 for empty or null ones)."""
    offsets, data = value_buffers(values)
    some = np.diff(offsets) > 0
    first, last = np.zeros(len(values), np.uint8), np.zeros(len(values), np.uint8)
    first[some] = data[offsets[:-1][some]]
    last[some] = data[offsets[1:][some] - 1]
    return first, last


def _format(u: np.ndarray, original: pa.Array, col: MarkColumn, form=None) -> tuple[pa.Array, np.ndarray]:
    n = len(u)
    odd = np.zeros(n, bool)
    if col.kind == "amount":
        d = col.decimals
        a = np.abs(u)
        ip = a // 10 ** d
        int_txt = pc.cast(pa.array(ip), pa.string())
        commas = _np(pc.fill_null(pc.match_substring(original, ","), False), bool)
        if commas.any():
            ci = np.flatnonzero(commas)
            int_txt = pc.replace_with_mask(int_txt, pa.array(commas), _grouped(ip[ci]))
        pieces = [int_txt]
        if (u < 0).any():
            pieces.insert(0, pc.if_else(pa.array(u < 0), "-", ""))
        if d > 0:
            frac = pc.utf8_lpad(pc.cast(pa.array(a % 10 ** d), pa.string()), width=d, padding="0")
            pieces.append(pc.binary_join_element_wise(".", frac, ""))
        # format_units_sql's prefix '^\s*([¥￥]?)' and suffix '(元?)\s*$': a value
        # that parsed is the trimmed text padded by space separators only (\s
        # matches just ' ' of those): ¥ is kept where only spaces precede it, and
        # 元 where only spaces follow it. A value that starts with a digit, sign
        # or point has no prefix; one that ends with a digit or point no suffix.
        first, last = _edges(original)
        plain_head = ((first - np.uint8(48)) < 10) | (first == 43) | (first == 45) | (first == 46)
        plain_tail = ((last - np.uint8(48)) < 10) | (last == 46)
        if not plain_head.all():
            fancy = np.flatnonzero(~plain_head)
            head = pc.utf8_slice_codeunits(pc.utf8_ltrim(original.take(pa.array(fancy)), characters=" "), 0, 1)
            prefix = pc.if_else(pc.is_in(head, value_set=pa.array(["¥", "￥"])), head, "")
            pieces.insert(0, pc.fill_null(pc.replace_with_mask(pa.nulls(n, pa.string()), pa.array(~plain_head),
                                                               prefix), ""))
        if not plain_tail.all():
            fancy = np.flatnonzero(~plain_tail)
            tail = pc.ends_with(pc.utf8_rtrim(original.take(pa.array(fancy)), characters=" "), "元")
            yuan = np.zeros(n, bool)
            yuan[fancy] = _np(tail, bool)
            pieces.append(pc.if_else(pa.array(yuan), "元", ""))
        if len(pieces) == 1:
            return pieces[0], odd
        return pc.binary_join_element_wise(*pieces, ""), odd
    y, m, dd = civil_from_days(u)
    odd = (y < 1000) | (y > 9999)
    y = np.where(odd, 1970, y)
    if form is None:
        form, _ = _date_forms(_trim(original))
    text = None
    for k, tpl in enumerate(_TEMPLATES):
        hit = form == k
        if not hit.any():
            continue
        i = np.flatnonzero(hit)
        field = {"Y": y[i], "m": m[i], "d": dd[i]}
        pieces = [(field[p[1]], p[2]) if p[0] == "d" else p[1].decode() for p in tpl]
        fixed = _fixed_text(pieces, len(i))
        if len(i) == n:
            return fixed, odd
        text = pc.replace_with_mask(pa.nulls(n, pa.string()) if text is None else text, pa.array(hit), fixed)
    return (pa.nulls(n, pa.string()) if text is None else text), odd & (form >= 0)
