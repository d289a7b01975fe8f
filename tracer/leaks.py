"""What leakers do to a copy, as code: for the demo, the tests and benchmarks.

Each function takes and returns (header, rows) so steps compose:
subset, drop or rename columns, shuffle or sort, merge copies, re-save.
"""

from __future__ import annotations

import csv
import re
import random
from pathlib import Path
from typing import Sequence

Table = tuple[list[str], list[list[str]]]


def read(path: str | Path, encoding: str = "utf-8-sig") -> Table:
    with open(path, newline="", encoding=encoding) as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(path: str | Path, table: Table, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    header, rows = table
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return Path(path)


def sample(table: Table, n: int, seed: int = 0) -> Table:
    header, rows = table
    return header, random.Random(seed).sample(rows, min(n, len(rows)))


def head(table: Table, n: int) -> Table:
    return table[0], table[1][:n]


def shuffle(table: Table, seed: int = 0) -> Table:
    header, rows = table
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return header, rows


def sort_by(table: Table, column: str) -> Table:
    header, rows = table
    i = header.index(column)
    return header, sorted(rows, key=lambda r: r[i])


def keep(table: Table, columns: Sequence[str]) -> Table:
    header, rows = table
    idx = [header.index(c) for c in columns]
    return [header[i] for i in idx], [[r[i] for i in idx] for r in rows]


def drop(table: Table, columns: Sequence[str]) -> Table:
    return keep(table, [c for c in table[0] if c not in set(columns)])


def rename(table: Table, mapping: dict[str, str]) -> Table:
    return [mapping.get(h, h) for h in table[0]], table[1]


def concat(*tables: Table) -> Table:
    header = tables[0][0]
    rows: list[list[str]] = []
    for h, r in tables:
        idx = [h.index(c) for c in header]
        rows.extend([[row[i] for i in idx] for row in r])
    return header, rows


def filter_rows(table: Table, keep_row) -> Table:
    header, rows = table
    return header, [r for r in rows if keep_row(dict(zip(header, r)))]


# --- the journeys a leaked list takes -------------------------------------

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_LONG_DIGITS = re.compile(r"^\d{12,}$")
_MONEY = re.compile(r"^-?\d+\.\d+$")


def spreadsheet_csv(table: Table) -> Table:
    """Opened in a spreadsheet and saved again as CSV (General format): long
    digit strings become scientific notation (1.10105E+17), leading zeros and
    trailing zeros of decimals vanish, dates lose their zero padding."""
    def cell(v: str) -> str:
        if _LONG_DIGITS.match(v):
            mantissa = f"{int(v):.5E}"  # six significant digits, as a spreadsheet shows them
            head, exp = mantissa.split("E")
            head = head.rstrip("0").rstrip(".")
            return f"{head}E+{int(exp):02d}"
        if v.isdigit() and v.startswith("0") and len(v) > 1:
            return v.lstrip("0") or "0"
        if _MONEY.match(v):
            return v.rstrip("0").rstrip(".")
        m = _DATE.match(v)
        if m:
            return f"{m.group(1)}/{int(m.group(2))}/{int(m.group(3))}"
        return v

    header, rows = table
    return header, [[cell(v) for v in r] for r in rows]


def write_xlsx(path: str | Path, table: Table, *, numbers: bool = True) -> Path:
    """Save as a workbook the way a person typing or pasting would: with
    ``numbers``, digit strings and amounts become numbers (an 18-digit ID keeps
    15 significant digits) and dates become dates."""
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(table[0])
    for r in table[1]:
        out = []
        for v in r:
            if numbers and v.isdigit() and not v.startswith("0"):
                out.append(float(v) if len(v) > 15 else int(v))
            elif numbers and _MONEY.match(v):
                out.append(float(v))
            elif numbers and _DATE.match(v):
                out.append(dt.datetime.strptime(v, "%Y-%m-%d"))
            else:
                out.append(v)
        ws.append(out)
    wb.save(path)
    return Path(path)


def write_jsonl(path: str | Path, table: Table) -> Path:
    import json

    header, rows = table
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dict(zip(header, r)), ensure_ascii=False) + "\n")
    return Path(path)


def map_column(table: Table, column: str, fn) -> Table:
    header, rows = table
    i = header.index(column)
    return header, [r[:i] + [fn(r[i])] + r[i + 1:] for r in rows]


def phone_plus86(v: str) -> str:
    return f"+86 {v[:3]} {v[3:7]} {v[7:]}" if len(v) == 11 and v.isdigit() else v


def whole_yuan(v: str) -> str:
    try:
        return str(int(round(float(v))))
    except ValueError:
        return v


def merge_cellwise(tables: Sequence[Table], key: str, seed: int = 0, *, keep: str = "all") -> Table:
    """Colluders align their copies on ``key`` (e.g. the ID number) and build one
    list, each cell taken from a random copy that holds the row. ``keep="all"``
    keeps only rows every copy holds (an intersection, which drops anything
    planted in one copy only); ``keep="any"`` keeps the union."""
    rng = random.Random(seed)
    header = tables[0][0]
    maps = []
    for h, rows in tables:
        idx = [h.index(c) for c in header]
        k = h.index(key)
        maps.append({r[k]: [r[i] for i in idx] for r in rows})
    keys = set(maps[0])
    for m in maps[1:]:
        keys = keys & set(m) if keep == "all" else keys | set(m)
    out = []
    for kv in sorted(keys):
        holders = [m[kv] for m in maps if kv in m]
        out.append([rng.choice(holders)[j] for j in range(len(header))])
    return header, out


def read_table_from_arrow(table) -> Table:
    """A pyarrow table of strings as (header, rows)."""
    header = list(table.column_names)
    cols = [table.column(c).to_pylist() for c in header]
    return header, [list(r) for r in zip(*cols)]
